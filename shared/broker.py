"""The broker topology, declared by one function, and the helpers every service connects with."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aio_pika
import aiormq
import yarl
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
)

from shared.config import Settings
from shared.errors import BrokerUnavailableError, PublishError, TaskqError
from shared.names import CONTENT_TYPE, HEADER_ATTEMPT, Names, Priority

logger = logging.getLogger(__name__)

RECONNECT_INTERVAL_S = 1.0
MAX_RECONNECT_INTERVAL_S = 5.0


def work_queue_arguments(settings: Settings) -> dict[str, Any]:
    """The `x-*` arguments of the work queue: quorum, bounded redelivery, safe dead-lettering."""
    names = Names(settings.queue)
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": names.dlx,
        "x-delivery-limit": settings.delivery_limit,
        # at-least-once dead-lettering: the broker keeps a message until the DLX target confirms
        # it, so a failed task cannot vanish between the work queue and the dead queue.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def retry_queue_arguments(
    settings: Settings, delay_s: float, priority: Priority = Priority.NORMAL
) -> dict[str, Any]:
    """A retry queue holds messages for `delay_s`, then dead-letters them back to the work
    queue of their lane (each lane has its own retry queues)."""
    names = Names(settings.queue)
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": round(delay_s * 1000),
        "x-dead-letter-exchange": names.exchange,
        "x-dead-letter-routing-key": names.lane(priority),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def dead_queue_arguments() -> dict[str, Any]:
    """The dead queue is replicated like the others; nothing dead-letters out of it."""
    return {"x-queue-type": "quorum"}


def state_queue_arguments() -> dict[str, Any]:
    """The state queue is a quorum queue like the others: on a cluster a classic queue dies
    with its node, and while its node restarts every channel that declares it fails, which
    stalls every service's reconnection. A report lost anyway is only asked again."""
    return {"x-queue-type": "quorum"}


class Topology:
    """Handles to the declared exchanges and queues on one channel."""

    def __init__(
        self,
        exchange: AbstractExchange,
        work_queue: AbstractQueue,
        retry_exchange: AbstractExchange,
        dead_queue: AbstractQueue,
        retry_queues: dict[str, AbstractQueue],
        state_queue: AbstractQueue,
        lanes: dict[Priority, AbstractQueue],
        control_exchange: AbstractExchange,
    ) -> None:
        self.exchange = exchange
        self.work_queue = work_queue
        # Every lane's work queue, the normal one (work_queue) included.
        self.lanes = lanes
        self.control_exchange = control_exchange
        self.retry_exchange = retry_exchange
        self.dead_queue = dead_queue
        self.retry_queues = retry_queues
        self.state_queue = state_queue


async def declare_topology(channel: AbstractChannel, settings: Settings) -> Topology:
    """Declare (idempotently) every exchange, queue and binding taskq uses; return handles."""
    names = Names(settings.queue)
    durable = aio_pika.ExchangeType.DIRECT
    exchange = await channel.declare_exchange(names.exchange, durable, durable=True)
    dlx = await channel.declare_exchange(names.dlx, aio_pika.ExchangeType.FANOUT, durable=True)
    retry_exchange = await channel.declare_exchange(names.retry_exchange, durable, durable=True)

    # Quorum queues have no message priorities before RabbitMQ 4.0: each priority is a lane,
    # a work queue of its own with the same guarantees, consumed with capacity of its own.
    lanes: dict[Priority, AbstractQueue] = {}
    for priority in Priority:
        lane = await channel.declare_queue(
            names.lane(priority), durable=True, arguments=work_queue_arguments(settings)
        )
        await lane.bind(exchange, routing_key=names.lane(priority))
        lanes[priority] = lane
    work_queue = lanes[Priority.NORMAL]

    dead_queue = await channel.declare_queue(
        names.dead_queue, durable=True, arguments=dead_queue_arguments()
    )
    await dead_queue.bind(dlx, routing_key="")

    retry_queues: dict[str, AbstractQueue] = {}
    for priority in Priority:
        for delay in sorted(set(settings.retry_delays_s)):
            name = names.retry_queue(delay, priority)
            queue = await channel.declare_queue(
                name, durable=True, arguments=retry_queue_arguments(settings, delay, priority)
            )
            await queue.bind(retry_exchange, routing_key=name)
            retry_queues[name] = queue

    state_queue = await channel.declare_queue(
        names.state_queue, durable=True, arguments=state_queue_arguments()
    )
    control = await channel.declare_exchange(
        names.control_exchange, aio_pika.ExchangeType.FANOUT, durable=True
    )
    return Topology(
        exchange, work_queue, retry_exchange, dead_queue, retry_queues, state_queue, lanes, control
    )


async def declare_control_queue(
    channel: AbstractChannel, settings: Settings, process_id: str
) -> AbstractQueue:
    """One consumer process's queue on the control exchange: exclusive and auto-deleted, so it
    lives exactly as long as the process's connection (a robust channel declares it again)."""
    names = Names(settings.queue)
    queue = await channel.declare_queue(
        names.control_queue(process_id), exclusive=True, auto_delete=True
    )
    await queue.bind(names.control_exchange, routing_key="")
    return queue


async def publish_control(exchange: AbstractExchange, body: bytes, wait_s: float) -> None:
    """Broadcast a control message to every consumer process; PublishError if the broker does
    not confirm it. Not mandatory: with no consumer running, nobody needs to hear it."""
    try:
        async with asyncio.timeout(wait_s):
            await exchange.publish(
                aio_pika.Message(body, content_type=CONTENT_TYPE), routing_key="", mandatory=False
            )
    except TimeoutError as exc:
        raise PublishError(f"no confirm from the broker within {wait_s:g}s") from exc
    except (aio_pika.exceptions.AMQPError, aiormq.exceptions.AMQPError, ConnectionError) as exc:
        raise BrokerUnavailableError(f"{type(exc).__name__}: {exc}") from exc


class ClusterConnection(aio_pika.RobustConnection):
    """A robust connection to the first node of a list that answers, and after a drop or a
    failed attempt to the next one in turn, waiting longer (up to MAX_RECONNECT_INTERVAL_S)
    after a round in which no node answered.

    aio-pika has no multi-host support (mosquito/aio-pika#141). It reads `url` for every
    connection attempt and sets `transport` to None as each attempt starts (and on close), so
    this class picks the node there. Pass the list as `urls=`.
    """

    def __init__(self, url: Any, *args: Any, urls: tuple[str, ...] = (), **kwargs: Any) -> None:
        self._urls = [yarl.URL(u) for u in urls] or [yarl.URL(str(url))]
        self._node = 0
        self._attempted = False
        self._ready_to_rotate = False
        self._transport: Any = None
        super().__init__(url, *args, **kwargs)
        self._ready_to_rotate = True
        self.reconnect_callbacks.add(self._reset_backoff)

    @property
    def url(self) -> yarl.URL:
        return self._urls[self._node]

    @url.setter
    def url(self, value: yarl.URL) -> None:
        # Connection.__init__ sets it (nothing changes), update_secret() to change the password.
        if value.password != self.url.password:
            self._urls = [u.with_password(value.password) for u in self._urls]

    @property
    def transport(self) -> Any:
        return self._transport

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None and self._ready_to_rotate:
            if self._attempted:  # every attempt after the first goes to the next node
                self._node = (self._node + 1) % len(self._urls)
                if self._node == 0:  # a whole round went by: back off
                    self.reconnect_interval = min(
                        self.reconnect_interval * 2, MAX_RECONNECT_INTERVAL_S
                    )
            self._attempted = True
        self._transport = value

    def fail_over(self, suspect: Any) -> None:
        """Leave the node if `suspect` (a transport seen earlier) is still the one in use: a
        node that stops answering without closing (frozen, say) is otherwise only noticed when
        heartbeats run out. The robust machinery then reconnects to the next node."""
        transport: Any = self._transport
        if transport is None or transport is not suspect or transport.connection.is_closed:
            return
        logger.warning("the broker node does not answer; moving on", extra={"node": self.node})
        asyncio.get_running_loop().create_task(
            transport.connection.close(ConnectionError("node does not answer"))
        )

    def _reset_backoff(self, *_: object) -> None:
        self.reconnect_interval = RECONNECT_INTERVAL_S
        logger.info("connected to the broker", extra={"node": self.node})

    @property
    def node(self) -> str:
        """The node in use, without credentials."""
        return redact(str(self.url))


def with_heartbeat(url: str, heartbeat_s: int) -> str:
    """The URL asking for `heartbeat_s` heartbeats, unless it names its own."""
    parsed = yarl.URL(url)
    if "heartbeat" in parsed.query:
        return url
    return str(parsed.update_query(heartbeat=heartbeat_s))


async def connect(settings: Settings, *, name: str) -> AbstractRobustConnection:
    """Connect robustly to the first broker node that answers, retrying until
    TASKQ_STARTUP_TIMEOUT_S runs out; later drops reconnect to the next node in turn."""
    urls = tuple(with_heartbeat(u, settings.heartbeat_s) for u in settings.amqp_urls)
    deadline = time.monotonic() + settings.startup_timeout_s
    delay = 0.2
    attempt = 0
    while True:
        # The first node that answers: start each try at the next one.
        ordered = urls[attempt % len(urls) :] + urls[: attempt % len(urls)]
        try:
            connection = await aio_pika.connect_robust(
                ordered[0],
                client_properties={"connection_name": name},
                timeout=5,
                # aio-pika waits 5 s between reconnects by default: 5 s of 503s after a blip.
                reconnect_interval=RECONNECT_INTERVAL_S,
                connection_class=ClusterConnection,
                urls=ordered,
            )
            assert isinstance(connection, ClusterConnection)
            logger.info("connected to the broker", extra={"node": connection.node})
            return connection
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
            attempt += 1
            if time.monotonic() + delay > deadline:
                raise TaskqError(
                    f"broker unreachable at {redact(settings.amqp_url)} after "
                    f"{settings.startup_timeout_s:g}s: {exc or type(exc).__name__}"
                ) from exc
            logger.info("waiting for the broker", extra={"error": str(exc)})
            if attempt % len(urls) == 0:  # every node failed this round
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


def watch_connection(
    connection: AbstractRobustConnection, on_restored: Callable[[], None] | None = None
) -> None:
    """Log when the broker connection is lost (not when we close it) and when it is back."""

    def lost(_: object, exc: BaseException | None) -> None:
        if exc is not None:  # None means we closed it ourselves
            logger.warning("broker connection lost: %s", exc or type(exc).__name__)

    def restored(*_: object) -> None:
        logger.info("broker connection restored")
        if on_restored is not None:
            on_restored()

    connection.close_callbacks.add(lost)
    connection.reconnect_callbacks.add(restored)


def redact(url: str) -> str:
    """The URL (or comma-separated URLs) without passwords, for log lines and error messages."""
    if "," in url:
        return ",".join(redact(part) for part in url.split(","))
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def task_message(body: bytes, task_id: str, attempt: int) -> aio_pika.Message:
    """A persistent JSON message carrying one task."""
    return aio_pika.Message(
        body,
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=task_id,
        headers={HEADER_ATTEMPT: attempt},
    )


# A message's attempt outweighs any number of returns of an older message.
RANK_SPAN = 1 << 20
DELIVERY_COUNT = "x-delivery-count"


def delivery_rank(headers: Mapping[str, Any] | None) -> int:
    """Where a delivery stands among all deliveries of its task: later messages (retries carry a
    higher attempt) and later deliveries of one message (a quorum queue counts each return in
    `x-delivery-count`) rank higher."""
    headers = headers or {}
    attempt, returned = headers.get(HEADER_ATTEMPT), headers.get(DELIVERY_COUNT)
    attempt = attempt if isinstance(attempt, int) and attempt >= 0 else 0
    returned = returned if isinstance(returned, int) and returned >= 0 else 0
    return attempt * RANK_SPAN + min(returned, RANK_SPAN - 1)


async def publish_confirmed(
    exchange: AbstractExchange, message: aio_pika.Message, routing_key: str, wait_s: float
) -> None:
    """Publish mandatory and wait for the broker's confirm; raise PublishError otherwise."""
    try:
        async with asyncio.timeout(wait_s):
            # Exchanges aio-pika declares carry their channel; the abstract type does not say so.
            owner: AbstractChannel = exchange.channel  # type: ignore[attr-defined]
            if owner.is_closed:
                raise aio_pika.exceptions.ChannelInvalidStateError("channel closed")
            channel = await owner.get_underlay_channel()
            assert isinstance(channel, aiormq.Channel)
            # aio-pika's Exchange.publish holds the channel's lock until the frame is written
            # and drained, which lets one publish per event-loop turn through: under load the
            # requests queue on that lock, not on the broker. wait=False releases the lock once
            # the frame is queued for the writer; basic_publish still returns only on the
            # broker's confirm (and raises on a nack or a return).
            await channel.basic_publish(
                message.body,
                exchange=exchange.name,
                routing_key=routing_key,
                properties=message.properties,
                mandatory=True,
                wait=False,
            )
    except TimeoutError as exc:
        raise PublishError(f"no confirm from the broker within {wait_s:g}s") from exc
    except aiormq.exceptions.DeliveryError as exc:  # nacked or returned: the broker said no
        raise PublishError(f"{type(exc).__name__}: {exc}") from exc
    except (aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
        raise BrokerUnavailableError(f"{type(exc).__name__}: {exc}") from exc
    except asyncio.CancelledError as exc:
        if not connection_lost(exc):
            raise
        raise BrokerUnavailableError("the connection closed before the confirm") from exc


def connection_lost(exc: asyncio.CancelledError) -> bool:
    """Whether a CancelledError means the broker connection dropped, not that our task is
    being cancelled: aiormq cancels the futures of a connection it loses (a confirm, an RPC),
    and left to propagate that would end a request or a delivery's handler unanswered."""
    task = asyncio.current_task()
    return task is not None and not task.cancelling()


async def settle(settling: Awaitable[None]) -> None:
    """Await an ack, nack or reject; if the channel died meanwhile, the broker redelivers the
    message by itself, so a lost settlement is logged, not raised."""
    try:
        await settling
    except Exception as exc:  # a closed channel: the delivery returns to the queue on its own
        logger.warning("could not settle a delivery (%s); the broker will redeliver it", exc)

"""The consumer's line to the database's owner: reports go to the inbox of the owner process
that answered last (shared/inbox.py), or to the state queue before any answer and after an
inbox went quiet; answers come back on RabbitMQ's direct reply-to, and a report is asked again
until the owner answers.

Reports made in one event-loop turn travel in one message (one round trip for all of them), and
while MAX_REQUESTS messages wait for answers, new reports gather for the next: under load a
consumer sends a few large messages, where one per loop turn would cost the broker, the owner
and itself a message's overhead for every few reports. While the owner does not answer, the
callers wait: their deliveries stay unacked (so nothing is acked without a committed outcome)
and return to the queue only if this process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import aiormq
import uuid_utils
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiormq.abc import AbstractChannel as RawChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from services.consumer.metrics import ConsumerMetrics
from shared.broker import connection_lost
from shared.config import Settings
from shared.errors import InvalidMessageError
from shared.inbox import INBOX_HEADER
from shared.names import CONTENT_TYPE, Names
from shared.reports import Answer, Op, Report, decode_answers, encode_reports

logger = logging.getLogger(__name__)

REPLY_TO = "amq.rabbitmq.reply-to"
# How often an idle consumer checks that the owner answers, and how long without any answer
# makes it not ready (/readyz): seconds, not the minutes a report may wait.
PING_INTERVAL_S = 1.0
ANSWER_STALE_S = 3.0
MAX_BACKOFF_S = 2.0
# An inbox unanswered this long is given up for the state queue at once: its owner may be gone,
# and only the state queue reaches the next one. An answer names an inbox again.
INBOX_WAIT_S = 1.0
# Requests waiting for answers at once; reports made meanwhile gather into the next one. With a
# hundred deliveries in flight this sends ~35 reports a message, not ~6 (one a loop turn), which
# cut the CPU per task by a quarter across API, consumer and broker. With the seed's ten, rarely
# more than two wait at once, so they lose no time to it.
MAX_REQUESTS = 2


class _Abandoned(Exception):
    """Every caller of a request has gone: stop asking."""


class OwnerClient:
    """Sends reports to the owner in batches and hands each caller its answer."""

    def __init__(
        self, connection: AbstractRobustConnection, settings: Settings, metrics: ConsumerMetrics
    ) -> None:
        self._connection = connection
        self._queue = Names(settings.queue).state_queue
        self._wait_s = settings.publish_timeout_s
        self._metrics = metrics
        self._channel: AbstractChannel | None = None
        self._listening_on: RawChannel | None = None
        # Sends run concurrently: only one may start the reply consumer on a new channel (a
        # second basic.consume of amq.rabbitmq.reply-to is a channel error that closes it).
        self._listen_lock = asyncio.Lock()
        self._pending: list[tuple[Report, asyncio.Future[Answer]]] = []
        self._gathering = False
        self._closing = False
        self._replies: dict[str, asyncio.Future[bytes]] = {}
        self._sends: set[asyncio.Task[None]] = set()
        self._pinger: asyncio.Task[None] | None = None
        self._last_answer = -ANSWER_STALE_S
        self._answering = False
        self._inbox: str | None = None

    @property
    def answering(self) -> bool:
        """The owner answered within the last ANSWER_STALE_S (idle, the pings keep it fresh)."""
        return time.monotonic() - self._last_answer < ANSWER_STALE_S

    async def start(self) -> None:
        """Open the channel and start checking that the owner answers."""
        # No confirms: the owner's answer is the only confirmation a report needs.
        self._channel = await self._connection.channel(publisher_confirms=False)
        self._pinger = asyncio.create_task(self._ping_forever(), name="taskq-owner-ping")

    async def report(self, report: Report) -> Answer:
        """Send `report` with the others gathered with it; return once the owner committed it."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append((report, future))
        self._start_send()
        return await future

    def _start_send(self) -> None:
        """Start a request for the pending reports, unless one is about to take them or
        MAX_REQUESTS are waiting for answers already: then they gather until one is answered."""
        if self._closing or self._gathering or not self._pending:
            return
        if len(self._sends) >= MAX_REQUESTS:
            return
        self._gathering = True
        task = asyncio.create_task(self._send())
        self._sends.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        self._start_send()

    async def _send(self) -> None:
        await asyncio.sleep(0)  # let the reports of this loop turn join the message
        self._gathering = False
        batch, self._pending = self._pending, []
        try:
            answers = await self._ask(
                [report for report, _ in batch],
                lambda: any(not future.done() for _, future in batch),
            )
        except _Abandoned:
            return
        except BaseException as exc:  # cancelled at shutdown: every caller learns it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            raise
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():  # a caller cancelled at shutdown; its report still counted
                future.set_result(answer)

    async def _ask(self, reports: list[Report], wanted: Callable[[], bool]) -> list[Answer]:
        """Send `reports` until the owner answers, or until no caller waits for them any more
        (their handlers were cancelled with a lost connection): a claim sent again for a
        delivery the broker has since given to another consumer would only be refused."""
        body = encode_reports(reports)
        # One id for every copy: an answer to an earlier copy is as good as any.
        correlation_id = uuid_utils.uuid4().hex
        backoff = 0.1
        asked = time.monotonic()
        while True:
            reply = asyncio.get_running_loop().create_future()
            self._replies[correlation_id] = reply
            inbox = self._inbox
            wait_s = min(INBOX_WAIT_S, self._wait_s) if inbox else self._wait_s
            try:
                async with asyncio.timeout(wait_s):
                    channel = await self._reply_channel()
                    await channel.basic_publish(
                        body,
                        routing_key=inbox or self._queue,
                        properties=Basic.Properties(
                            content_type=CONTENT_TYPE,
                            correlation_id=correlation_id,
                            reply_to=REPLY_TO,
                            # Unanswered by then, it is sent again: a stale copy is dropped.
                            expiration=str(round(wait_s * 1000)),
                        ),
                    )
                    answers = decode_answers(await reply, len(reports))
            except TimeoutError:
                if inbox is None:
                    await self._unanswered(TimeoutError())
                    backoff = await self._backoff(backoff)
                elif self._inbox == inbox:
                    logger.info("the owner's inbox went quiet; asking through the state queue")
                    self._inbox = None
                if not wanted():
                    raise _Abandoned from None
                continue
            except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
                await self._unanswered(exc)
                backoff = await self._backoff(backoff)
                if not wanted():
                    raise _Abandoned from exc
                continue
            except InvalidMessageError:
                logger.exception("the owner's answer makes no sense; asking again")
                await asyncio.sleep(backoff)
                continue
            except asyncio.CancelledError as exc:
                if not connection_lost(exc):
                    raise
                # the connection dropped under the publish: ask again once it is back
                self._metrics.owner_timeouts.inc()
                await asyncio.sleep(backoff)
                if not wanted():
                    raise _Abandoned from exc
                continue
            finally:
                self._replies.pop(correlation_id, None)
            if not self._answering:
                logger.info("the database's owner answers")
            self._answering = True
            self._last_answer = time.monotonic()
            self._metrics.owner_answer.observe(self._last_answer - asked)
            return answers

    async def _unanswered(self, exc: BaseException) -> None:
        if self._answering:
            logger.warning(
                "the database's owner does not answer (%s); holding deliveries",
                type(exc).__name__,
            )
        self._answering = False
        self._metrics.owner_timeouts.inc()

    @staticmethod
    async def _backoff(backoff: float) -> float:
        await asyncio.sleep(backoff)
        return min(backoff * 2, MAX_BACKOFF_S)

    async def _reply_channel(self) -> RawChannel:
        """The current underlying channel, consuming direct reply-to (again after a reconnect:
        the pseudo-queue's consumer dies with its channel, and publishes must share it)."""
        assert self._channel is not None
        async with self._listen_lock:
            channel = await self._channel.get_underlay_channel()
            if channel is not self._listening_on:
                await channel.basic_consume(REPLY_TO, self._on_reply, no_ack=True)
                self._listening_on = channel
        return channel

    async def _on_reply(self, message: DeliveredMessage) -> None:
        properties = message.header.properties
        inbox = (properties.headers or {}).get(INBOX_HEADER)
        if isinstance(inbox, str):
            self._inbox = inbox
        future = self._replies.get(properties.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message.body)

    async def _ping_forever(self) -> None:
        while True:
            if time.monotonic() - self._last_answer >= PING_INTERVAL_S:
                await self.report(Report(Op.PING))
            await asyncio.sleep(PING_INTERVAL_S / 2)

    async def close(self) -> None:
        """Stop asking; callers still waiting are cancelled (their deliveries return)."""
        self._closing = True
        for _, future in self._pending:  # gathered, never sent: their deliveries return
            future.cancel()
        self._pending = []
        tasks = [*self._sends, *([self._pinger] if self._pinger else [])]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

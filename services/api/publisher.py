"""Publishing tasks with publisher confirms on a robust connection."""

from __future__ import annotations

import asyncio
import logging

from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from shared.broker import (
    ClusterConnection,
    Topology,
    connect,
    declare_topology,
    publish_confirmed,
    publish_control,
    task_message,
    watch_connection,
)
from shared.config import Settings
from shared.errors import BrokerUnavailableError, PublishError
from shared.models import Envelope
from shared.names import Names, Priority

logger = logging.getLogger(__name__)


class Publisher:
    """One confirm-mode channel shared by every request: publishes are pipelined on it, each
    request waiting only for its own confirm."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        topology: Topology,
        settings: Settings,
        inspect_channel: AbstractRobustChannel,
    ) -> None:
        self._connection = connection
        self._channel = channel
        self._inspect_channel = inspect_channel
        self._topology = topology
        self._names = Names(settings.queue)
        self._timeout = settings.publish_timeout_s

    @classmethod
    async def open(cls, settings: Settings) -> Publisher:
        """Connect (waiting up to TASKQ_STARTUP_TIMEOUT_S) and declare the topology."""
        connection = await connect(settings, name="taskq-api")
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        assert isinstance(channel, AbstractRobustChannel)
        topology = await declare_topology(channel, settings)
        # Passive declares close their channel when a queue is missing; keep that away from
        # the channel every publish depends on.
        inspect_channel = await connection.channel()
        assert isinstance(inspect_channel, AbstractRobustChannel)
        watch_connection(connection)
        return cls(connection, channel, topology, settings, inspect_channel)

    @property
    def connection(self) -> AbstractRobustConnection:
        """The API's one broker connection, which the recorder consumes on too."""
        return self._connection

    @property
    def ready(self) -> bool:
        """True while a publish can reach the broker."""
        return not self._connection.is_closed and not self._channel.is_closed

    async def publish(self, envelope: Envelope, priority: Priority = Priority.NORMAL) -> None:
        """Send one task to its lane and return once the broker has confirmed it; PublishError
        otherwise. Publishes of concurrent callers are pipelined on the one channel.

        A publish cut off by a lost connection (its node died, say) is sent again once the
        connection is back, on whichever node answers, until TASKQ_PUBLISH_TIMEOUT_S runs out.
        A duplicate message from that is harmless: the claim decides.
        """
        message = task_message(envelope.encode(), envelope.id, 0)
        deadline = asyncio.get_running_loop().time() + self._timeout
        pause = 0.05
        while True:
            left = deadline - asyncio.get_running_loop().time()
            transport = self._connection.transport
            try:
                if not self.ready:
                    raise BrokerUnavailableError("not connected to the broker")
                await publish_confirmed(
                    self._topology.exchange, message, self._names.lane(priority), left
                )
                return
            except BrokerUnavailableError:
                if left <= pause:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.5)
            except PublishError as exc:
                if isinstance(exc.__cause__, TimeoutError) and isinstance(
                    self._connection, ClusterConnection
                ):
                    # No confirm at all in the whole timeout: the node may hang. The next
                    # requests go to another node rather than wait for heartbeats to run out.
                    self._connection.fail_over(transport)
                raise

    async def broadcast(self, body: bytes) -> None:
        """Send a control message to every consumer process; PublishError if not confirmed."""
        if not self.ready:
            raise BrokerUnavailableError("not connected to the broker")
        await publish_control(self._topology.control_exchange, body, self._timeout)

    async def queue_depths(self) -> dict[str, int]:
        """Messages ready in the work, retry and dead queues, as the broker reports them.

        Raises at once while disconnected, and after the publish timeout otherwise: a robust
        channel would wait for the broker to come back, and so would the request.
        """
        if not self.ready:
            raise PublishError("not connected to the broker")
        lanes = [self._names.lane(p) for p in Priority]
        names = [*lanes, *self._topology.retry_queues, self._names.dead_queue]
        depths: dict[str, int] = {}
        async with asyncio.timeout(self._timeout):
            for name in names:
                declared = await self._inspect_channel.declare_queue(name, passive=True)
                depths[name] = declared.declaration_result.message_count or 0
        return depths

    async def close(self) -> None:
        await self._connection.close()

"""Publishing tasks with publisher confirms on a robust connection."""

from __future__ import annotations

import asyncio
import logging

from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from shared.broker import (
    Topology,
    connect,
    declare_topology,
    publish_confirmed,
    task_message,
    watch_connection,
)
from shared.config import Settings
from shared.errors import PublishError
from shared.models import Envelope
from shared.names import Names

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

    async def publish(self, envelope: Envelope) -> None:
        """Send one task and return once the broker has confirmed it; PublishError otherwise."""
        if not self.ready:
            raise PublishError("not connected to the broker")
        await publish_confirmed(
            self._topology.exchange,
            task_message(envelope.encode(), envelope.id, 0),
            self._names.routing_key,
            self._timeout,
        )

    async def queue_depths(self) -> dict[str, int]:
        """Messages ready in the work, retry and dead queues, as the broker reports them.

        Raises at once while disconnected, and after the publish timeout otherwise: a robust
        channel would wait for the broker to come back, and so would the request.
        """
        if not self.ready:
            raise PublishError("not connected to the broker")
        names = [self._names.work_queue, *self._topology.retry_queues, self._names.dead_queue]
        depths: dict[str, int] = {}
        async with asyncio.timeout(self._timeout):
            for name in names:
                declared = await self._inspect_channel.declare_queue(name, passive=True)
                depths[name] = declared.declaration_result.message_count or 0
        return depths

    async def close(self) -> None:
        await self._connection.close()

"""The consumer service: TASKQ_CHANNELS channels consume the work queue, one more the high lane,
and every state change goes to the database's owner through the broker; a control queue of its
own hears cancel requests; SIGTERM drains in-flight tasks before closing.
It talks only to RabbitMQ: it has no database, so it runs on any machine that reaches the broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

import uvloop
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
from aiohttp import web

from services.consumer.cancels import Cancels
from services.consumer.limits import check_limits
from services.consumer.metrics import ConsumerMetrics
from services.consumer.owner import OwnerClient
from services.consumer.probes import create_probe_app
from services.consumer.worker import Worker
from shared.actions import registry
from shared.broker import connect, declare_topology, watch_connection
from shared.config import Settings
from shared.errors import TaskqError
from shared.logs import setup_logging
from shared.names import Names, Priority

logger = logging.getLogger(__name__)

DEPTH_POLL_S = 5.0


class Consumer:
    """Owns the connection, the channels and their consumers."""

    def __init__(self, settings: Settings, metrics: ConsumerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.connection: AbstractRobustConnection | None = None
        self.channels: list[AbstractChannel] = []
        self.consumers: list[tuple[AbstractQueue, str]] = []
        self.worker: Worker | None = None
        self.owner: OwnerClient | None = None
        self.started = False
        self.stopping = False

    async def start(self) -> None:
        settings = self.settings
        self.connection = connection = await connect(settings, name="taskq-consumer")
        watch_connection(connection, self.metrics.reconnects.inc)
        # Confirms on the channel that publishes retries: a retry is scheduled only once the
        # broker holds it, and only then is the failed delivery acked.
        publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        self.channels.append(publish_channel)
        topology = await declare_topology(publish_channel, settings)
        self.owner = OwnerClient(connection, settings, self.metrics)
        await self.owner.start()
        cancels = Cancels()
        await cancels.listen(connection, settings)
        self.worker = Worker(settings, self.owner, topology.retry_exchange, self.metrics, cancels)
        # The high lane has a channel (and prefetch) of its own: its capacity is kept free for
        # it whatever the backlog of the normal lane.
        lanes = [(Priority.NORMAL, settings.prefetch)] * settings.channels
        lanes.append((Priority.HIGH, settings.high_prefetch))
        for priority, prefetch in lanes:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=prefetch)
            queue = (await declare_topology(channel, settings)).lanes[priority]
            self.channels.append(channel)
            self.consumers.append((queue, await queue.consume(self.worker.handle)))
        self.started = True
        logger.info(
            "consuming",
            extra={
                "queue": Names(settings.queue).work_queue,
                "channels": settings.channels,
                "prefetch": settings.prefetch,
                "high_prefetch": settings.high_prefetch,
            },
        )

    def readiness(self) -> dict[str, bool]:
        """Ready only while really consuming (connection and every channel open) and while the
        database's owner answers: without it no task can be claimed or finished."""
        connection = self.connection
        connected = connection is not None and not connection.is_closed
        channels = bool(self.channels) and all(not ch.is_closed for ch in self.channels)
        # Not before start() has set up every consumer: the channels list fills as it goes.
        consuming = self.started and channels and not self.stopping
        owner = self.owner is not None and self.owner.answering
        return {"broker": connected, "consuming": consuming, "owner": owner}

    async def poll_depths(self) -> None:
        """Keep the queue-depth gauges current (passive declares on a channel of their own)."""
        assert self.connection is not None
        names = Names(self.settings.queue)
        queues = [*(names.lane(p) for p in Priority), names.dead_queue]
        delays = sorted(set(self.settings.retry_delays_s))
        queues += [names.retry_queue(d, p) for p in Priority for d in delays]
        channel = await self.connection.channel()
        while True:
            try:
                for name in queues:
                    declared = await channel.declare_queue(name, passive=True)
                    count = declared.declaration_result.message_count or 0
                    self.metrics.queue_depth.labels(name).set(count)
            except Exception as exc:  # the broker is away; try again next round
                logger.debug("queue depth poll failed: %s", exc)
            await asyncio.sleep(DEPTH_POLL_S)

    async def drain(self) -> None:
        """Stop taking deliveries, wait for those in flight (up to the grace period), close."""
        self.stopping = True
        # A robust channel waits for a lost broker to come back before it cancels; shutdown
        # must not wait with it (the consumers die with the connection anyway).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.publish_timeout_s):
                for queue, tag in self.consumers:
                    with contextlib.suppress(Exception):  # a dead channel has no consumer
                        await queue.cancel(tag)
        in_flight: set[asyncio.Task[object]] = set()
        if self.worker is not None:
            in_flight |= self.worker.in_flight
        if in_flight:
            logger.info("waiting for %d tasks in flight", len(in_flight))
            _, pending = await asyncio.wait(in_flight, timeout=self.settings.shutdown_grace_s)
            if pending:
                # Unacked, these return to the queue when the channel closes.
                logger.warning(
                    "%d tasks did not finish in time; the broker will redeliver them", len(pending)
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        if self.owner is not None:
            await self.owner.close()
        if self.connection is not None:
            await self.connection.close()


async def main(settings: Settings) -> None:
    metrics = ConsumerMetrics()
    consumer = Consumer(settings, metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_probe_app(consumer.readiness, metrics), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.consumer_port)
    await site.start()
    poller: asyncio.Task[None] | None = None
    try:
        await consumer.start()
        poller = asyncio.create_task(consumer.poll_depths(), name="taskq-depth-poll")
        await stop.wait()
        logger.info("shutting down")
    finally:
        if poller is not None:
            poller.cancel()
        await consumer.drain()
        await runner.cleanup()
    logger.info("stopped")


def run() -> None:
    """Console entry point."""
    try:
        settings = Settings.from_env(os.environ)
        check_limits(registry, settings)
    except TaskqError as exc:
        print(f"taskq-consumer: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging("consumer", settings.log_level)
    try:
        uvloop.run(main(settings))
    except TaskqError as exc:
        logger.error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    run()

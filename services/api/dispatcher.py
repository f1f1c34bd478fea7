"""Delayed tasks: the API, owner of the database, moves each `scheduled` task to the queue when
it is due. Due times live in SQLite, so a delayed task survives a kill -9 of every process, and
nothing waits as an unacked delivery in a consumer (celery#9207, dramatiq#877)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiosqlite
import orjson

from services.api import queries, transitions
from services.api.metrics import ApiMetrics
from services.api.outbox import Outbox
from services.api.publisher import Publisher
from shared.clock import now_ms
from shared.db import BatchWriter
from shared.errors import PublishError
from shared.models import Envelope

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 500
PUBLISH_CONCURRENCY = 64
# The longest sleep between looks at the next due time: a task another API process scheduled
# (whose wake-up this one never hears) starts at most this late.
MAX_SLEEP_S = 0.25


class Dispatcher:
    """Sleeps until the next due task (or a wake-up), then takes the due ones and publishes."""

    def __init__(
        self,
        writer: BatchWriter,
        reader: aiosqlite.Connection,
        publisher: Publisher,
        outbox: Outbox,
        metrics: ApiMetrics,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._publisher = publisher
        self._outbox = outbox
        self._metrics = metrics
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A task was scheduled: it may be due before the one the loop sleeps for."""
        self._wakeup.set()

    async def dispatch(self) -> int:
        """Queue and publish every task due now; return how many were taken."""
        taken = 0
        while True:
            now = now_ms()
            rows = await self._writer.run(transitions.dispatch_due(now, DISPATCH_BATCH))
            taken += len(rows)
            await self._publish(rows, now)
            if len(rows) < DISPATCH_BATCH:
                return taken

    async def _publish(self, rows: list[tuple[str, str, str]], now: int) -> None:
        gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def one(task_id: str, action: str, data: str) -> None:
            async with gate:
                try:
                    await self._publisher.publish(Envelope(task_id, action, orjson.loads(data)))
                except PublishError as exc:
                    # The row is queued and unpublished: the outbox sweep publishes it later.
                    logger.warning(
                        "due task not published yet: %s", exc, extra={"task_id": task_id}
                    )
                    return
            self._outbox.confirmed(task_id)
            self._metrics.dispatched.inc()

        await asyncio.gather(*(one(*row) for row in rows))

    async def _run(self) -> None:
        while True:
            try:
                due = await queries.next_due(self._reader)
                now = now_ms()
                if due is not None and due <= now:
                    await self.dispatch()
                    continue
                wait = MAX_SLEEP_S if due is None else min((due - now) / 1000, MAX_SLEEP_S)
            except Exception:  # the database or broker hiccuped: try again shortly
                logger.exception("dispatching due tasks failed")
                wait = MAX_SLEEP_S
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="taskq-dispatcher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

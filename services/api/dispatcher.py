"""Delayed tasks: the API, owner of the database, moves each `scheduled` task to the queue when
it is due. Due times live in SQLite, so a delayed task survives a kill -9 of every process, and
nothing waits as an unacked delivery in a consumer (celery#9207, dramatiq#877)."""

from __future__ import annotations

import asyncio
import logging

import orjson

from services.api import queries, transitions
from services.api.due_loop import QueueingLoop
from shared.clock import now_ms
from shared.errors import PublishError
from shared.models import Envelope
from shared.names import Priority

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 500
PUBLISH_CONCURRENCY = 64


class Dispatcher(QueueingLoop):
    """Sleeps until the next due task (or a wake-up), then takes the due ones and publishes."""

    name = "taskq-dispatcher"
    # A task another API process scheduled (whose wake-up this one never hears) starts at most
    # this late.
    max_sleep_s = 0.25

    async def step(self) -> int | None:
        due = await queries.next_due(self._reader)
        if due is not None and due <= now_ms():
            await self.dispatch()
            due = await queries.next_due(self._reader)
        return due

    async def dispatch(self) -> int:
        """Queue and publish every task due now; return how many were taken."""
        taken = 0
        while True:
            now = now_ms()
            rows = await self._writer.run(transitions.dispatch_due(now, DISPATCH_BATCH))
            for *_, run_at, _ in rows:
                self._metrics.dispatch_lateness.observe((now - run_at) / 1000)
            taken += len(rows)
            await self._publish(rows)
            if len(rows) < DISPATCH_BATCH:
                return taken

    async def _publish(self, rows: list[tuple[str, str, str, int, str]]) -> None:
        gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def one(task_id: str, action: str, data: str, priority: str) -> None:
            async with gate:
                try:
                    envelope = Envelope(task_id, action, orjson.loads(data))
                    # a delayed task runs in the lane it was submitted to
                    await self._outbox.send(envelope, Priority(priority))
                except PublishError as exc:
                    # The row is queued and unpublished: the outbox sweep publishes it later.
                    logger.warning(
                        "due task not published yet: %s", exc, extra={"task_id": task_id}
                    )
                    return
            self._metrics.dispatched.inc()

        await asyncio.gather(
            *(one(task_id, action, data, lane) for task_id, action, data, _, lane in rows)
        )

"""Recurring schedules: the API, owner of the database, fires each enabled schedule when its
next fire time comes, creating an ordinary task, and publishes it through the outbox path."""

from __future__ import annotations

import logging

import aiosqlite
import orjson

from services.api import schedule_store
from services.api.due_loop import DueLoop
from services.api.metrics import ApiMetrics
from services.api.outbox import Outbox
from services.api.publisher import Publisher
from shared.clock import now_ms
from shared.db import BatchWriter
from shared.errors import PublishError
from shared.models import Envelope, new_task_id

logger = logging.getLogger(__name__)

FIRE_BATCH = 100


class Scheduler(DueLoop):
    """Sleeps until the next fire time (or a wake-up), then fires the due schedules."""

    name = "taskq-scheduler"
    # As the dispatcher's: another API process's new or changed schedule is seen this late.
    max_sleep_s = 0.25

    def __init__(
        self,
        writer: BatchWriter,
        reader: aiosqlite.Connection,
        publisher: Publisher,
        outbox: Outbox,
        metrics: ApiMetrics,
    ) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self._publisher = publisher
        self._outbox = outbox
        self._metrics = metrics

    async def step(self) -> int | None:
        await self.fire_due()
        return await schedule_store.next_fire(self._reader)

    async def fire_due(self) -> int:
        """Fire every schedule that is due; return how many tasks were created."""
        now = now_ms()
        created = 0
        for row in await schedule_store.due(self._reader, now, FIRE_BATCH):
            spec = schedule_store.recurrence(row)
            due = int(row[8])
            task_id = await self._writer.run(
                schedule_store.fire(spec, due, spec.next_due(due, now), new_task_id(), now)
            )
            if task_id is None:
                continue  # another API process fired it, or it changed meanwhile
            created += 1
            self._metrics.fired.inc()
            logger.info("schedule fired", extra={"task_id": task_id, "schedule": spec.name})
            try:
                await self._publisher.publish(
                    Envelope(task_id, spec.action, orjson.loads(spec.data_json))
                )
            except PublishError as exc:
                # Stored and unpublished: the outbox sweep publishes it later.
                logger.warning("fired task not published yet: %s", exc, extra={"task_id": task_id})
                continue
            self._outbox.confirmed(task_id)
        return created

"""Recurring schedules: the API, owner of the database, fires each enabled schedule when its
next fire time comes, creating an ordinary task, and publishes it through the outbox path."""

from __future__ import annotations

import logging

import orjson

from services.api import schedule_store
from services.api.due_loop import QueueingLoop
from shared.clock import now_ms
from shared.errors import PublishError
from shared.models import Envelope, new_task_id
from shared.names import Priority

logger = logging.getLogger(__name__)

FIRE_BATCH = 100


class Scheduler(QueueingLoop):
    """Sleeps until the next fire time (or a wake-up), then fires the due schedules."""

    name = "taskq-scheduler"
    # As the dispatcher's: another API process's new or changed schedule is seen this late.
    max_sleep_s = 0.25

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
                envelope = Envelope(task_id, spec.action, orjson.loads(spec.data_json))
                await self._outbox.send(envelope, Priority.NORMAL)
            except PublishError as exc:
                # Stored and unpublished: the outbox sweep publishes it later.
                logger.warning("fired task not published yet: %s", exc, extra={"task_id": task_id})
        return created

"""Result retention: final tasks older than TASKQ_RESULT_TTL_S are deleted with their dead
letters, a small batch per transaction so the write lock is never held for long."""

from __future__ import annotations

import asyncio
import logging

from services.api import transitions
from services.api.due_loop import DueLoop
from services.api.metrics import ApiMetrics
from shared.clock import now_ms
from shared.db import BatchWriter

logger = logging.getLogger(__name__)

PURGE_BATCH = 200
MAX_INTERVAL_S = 60.0
MIN_INTERVAL_S = 0.5


def purge_interval(ttl_s: float) -> float:
    """How often to look: a fraction of the TTL, so a task outlives it by a little at most."""
    return min(max(ttl_s / 4, MIN_INTERVAL_S), MAX_INTERVAL_S)


class Retention(DueLoop):
    """Deletes expired final tasks in the background (nothing at all when the TTL is 0)."""

    name = "taskq-retention"

    def __init__(self, writer: BatchWriter, ttl_s: float, metrics: ApiMetrics) -> None:
        super().__init__()
        self._writer = writer
        self._ttl_ms = round(ttl_s * 1000)
        self.max_sleep_s = purge_interval(ttl_s)
        self._metrics = metrics

    async def step(self) -> int | None:
        await self.purge()
        return None  # look again in max_sleep_s

    async def purge(self) -> int:
        """Delete every final task processed more than the TTL ago; return how many."""
        purged = 0
        while True:
            batch = await self._writer.run(
                transitions.purge_final(now_ms() - self._ttl_ms, PURGE_BATCH), durable=False
            )
            purged += batch
            self._metrics.purged.inc(batch)
            if batch < PURGE_BATCH:
                break
            await asyncio.sleep(0)  # requests' writes go between batches
        if purged:
            logger.info("purged expired tasks", extra={"purged": purged})
        return purged

    def start(self) -> None:
        if self._ttl_ms > 0:
            super().start()

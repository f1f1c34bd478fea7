"""The outbox: rows are written before their message is published, marked once the broker
confirms, and a periodic sweep publishes again any row whose confirm never came (the API died
in between, say). A duplicate message is harmless: the consumer runs a task only from a
claimable state and records one result."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiosqlite
import orjson

from services.api import queries, store
from services.api.metrics import ApiMetrics
from services.api.publisher import Publisher
from shared.clock import now_ms
from shared.config import Settings
from shared.db import BatchWriter
from shared.errors import PublishError
from shared.models import Envelope
from shared.names import Priority

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


class Outbox:
    def __init__(
        self,
        writer: BatchWriter,
        reader: aiosqlite.Connection,
        publisher: Publisher,
        settings: Settings,
        metrics: ApiMetrics,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._publisher = publisher
        self._settings = settings
        self._metrics = metrics
        self._confirmed: list[str] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def send(self, envelope: Envelope, priority: Priority) -> None:
        """Publish a stored task; once the broker confirms it, note it published. Every path
        that queues a task goes through here. A PublishError leaves the row unpublished: the
        caller compensates (withdraws the task, restores it) or leaves it to the sweep."""
        await self._publisher.publish(envelope, priority)
        self.confirmed(envelope.id)

    def confirmed(self, task_id: str) -> None:
        """Note a broker confirm; confirms that arrive together are written in one statement."""
        self._confirmed.append(task_id)
        if len(self._confirmed) == 1:
            task = asyncio.create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the confirms of this loop iteration join the batch
        ids, self._confirmed = self._confirmed, []
        try:
            # Lost in a power cut, a mark only means the sweep publishes again: no fsync.
            await self._writer.run(store.mark_published(ids), durable=False)
        except Exception:  # the sweep will publish them again: duplicates, never losses
            logger.exception("could not mark %d confirmed tasks", len(ids))

    async def sweep(self) -> int:
        """Publish again the queued tasks whose confirm is older than TASKQ_ORPHAN_AGE_S."""
        cutoff = now_ms() - round(self._settings.orphan_age_s * 1000)
        republished = 0
        orphans = await queries.orphans(self._reader, cutoff, SWEEP_BATCH)
        for task_id, action, data, priority in orphans:
            envelope = Envelope(task_id, action, orjson.loads(data))
            try:
                await self.send(envelope, Priority(priority))
            except PublishError as exc:
                logger.warning(
                    "recovery sweep could not publish: %s", exc, extra={"task_id": task_id}
                )
                break
            republished += 1
            logger.info("recovered an unconfirmed task", extra={"task_id": task_id})
        self._metrics.republished.inc(republished)
        ttl_ms = round(self._settings.idempotency_ttl_s * 1000)
        await self._writer.run(store.expire_idempotency_keys(now_ms() - ttl_ms))
        return republished

    async def _run(self) -> None:
        interval = min(self._settings.orphan_age_s / 2, 10.0)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:  # a sweep that fails is tried again next interval
                logger.exception("recovery sweep failed")

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._run(), name="taskq-outbox-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)

"""A background loop on the clock: it does its work, then sleeps until the time the work says is
next (never longer than a cap, so what another API process changed is seen in time), or until
something wakes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiosqlite

from services.api.metrics import ApiMetrics
from services.api.outbox import Outbox
from shared.clock import now_ms
from shared.db import BatchWriter

logger = logging.getLogger(__name__)


class DueLoop:
    """Subclasses implement `step`: do what is due, return the next due time (epoch ms) or None."""

    name = "taskq-due-loop"
    max_sleep_s = 0.25

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def step(self) -> int | None:
        raise NotImplementedError

    def wake(self) -> None:
        """Something new may be due before the time the loop sleeps until."""
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                due = await self.step()
                wait = self.max_sleep_s
                if due is not None:
                    wait = min(max(due - now_ms(), 0) / 1000, self.max_sleep_s)
            except Exception:  # the database or the broker hiccuped: try again shortly
                logger.exception("%s failed", self.name)
                wait = self.max_sleep_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class QueueingLoop(DueLoop):
    """A loop that reads the database, writes through the writer, and queues the tasks it
    makes through the outbox (the dispatcher of delayed tasks, the scheduler)."""

    def __init__(
        self,
        writer: BatchWriter,
        reader: aiosqlite.Connection,
        outbox: Outbox,
        metrics: ApiMetrics,
    ) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self._outbox = outbox
        self._metrics = metrics

"""Progress reports of a running action: sent to the database's owner at most once per
PROGRESS_INTERVAL_S per task (the latest value wins), fire and forget, so that reporting never
holds up the action or its final outcome."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Protocol

from shared.reports import Answer, Op, Report

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0
MAX_MESSAGE_LENGTH = 500


class Reporter(Protocol):
    """Who takes a report (the worker's Owner)."""

    async def report(self, report: Report, /) -> Answer: ...


class TaskProgress:
    """The progress sink of one attempt (an ActionContext's `on_progress`)."""

    def __init__(
        self,
        owner: Reporter,
        task_id: str,
        token: str,
        interval_s: float = PROGRESS_INTERVAL_S,
    ) -> None:
        self._owner = owner
        self._task_id = task_id
        self._token = token
        self._interval = interval_s
        self._latest: tuple[float, str | None] | None = None
        self._last_sent = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._closed = False

    def __call__(self, fraction: float, message: str | None) -> None:
        if self._closed:
            return
        self._latest = (fraction, message[:MAX_MESSAGE_LENGTH] if message else message)
        if self._timer is not None:
            return  # a send is due; it will carry this value
        loop = asyncio.get_running_loop()
        due = self._last_sent + self._interval
        if loop.time() >= due:
            self._send()
        else:
            self._timer = loop.call_at(due, self._send)

    def _send(self) -> None:
        self._timer = None
        latest, self._latest = self._latest, None
        if self._closed or latest is None:
            return
        self._last_sent = asyncio.get_running_loop().time()
        report = Report(Op.PROGRESS, self._task_id, self._token, progress=latest)
        task = asyncio.create_task(self._deliver(report))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _deliver(self, report: Report) -> None:
        try:
            await self._owner.report(report)
        except Exception as exc:  # progress is best effort: the outcome is what counts
            logger.debug("progress report lost: %s", exc)

    def close(self) -> None:
        """The attempt is over: drop what was not sent (sends in flight are no-ops now)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

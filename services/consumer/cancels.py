"""Stopping running actions on request: the API broadcasts on the control exchange, and every
consumer process listens on an exclusive queue of its own; the one running the task cancels the
action's asyncio task.

A request can overtake the claim it concerns (the API marked the task while this process's
claim was being answered), so requests are remembered for a while and checked again just before
an action starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from shared.actions import Result
from shared.broker import declare_control_queue
from shared.config import Settings
from shared.control import decode_cancel
from shared.errors import InvalidMessageError

logger = logging.getLogger(__name__)

# How long a cancel request is remembered for a task this process is not (yet) running.
REMEMBER_S = 60.0


class ActionCancelled(Exception):
    """The action was stopped because its task was cancelled."""


class Cancels:
    """The running actions of this process, and the cancel requests heard for them."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Result]] = {}
        self._requested: dict[str, float] = {}

    async def listen(self, connection: AbstractRobustConnection, settings: Settings) -> None:
        """Consume this process's control queue (again by itself after a reconnect)."""
        channel = await connection.channel()
        queue = await declare_control_queue(channel, settings, uuid.uuid4().hex)
        await queue.consume(self.on_control, no_ack=True)

    async def on_control(self, message: AbstractIncomingMessage) -> None:
        try:
            task_ids = decode_cancel(message.body)
        except InvalidMessageError as exc:
            logger.error("ignoring a control message: %s", exc)
            return
        for task_id in task_ids:
            self.request(task_id)

    def request(self, task_id: str) -> None:
        """Stop the task's action if it runs here; otherwise remember it for a while."""
        now = time.monotonic()
        self._requested = {t: at for t, at in self._requested.items() if now - at < REMEMBER_S}
        self._requested[task_id] = now
        running = self._running.get(task_id)
        if running is not None and not running.done():
            logger.info("cancelling the running action", extra={"task_id": task_id})
            running.cancel()

    def requested(self, task_id: str) -> bool:
        at = self._requested.get(task_id)
        return at is not None and time.monotonic() - at < REMEMBER_S

    async def run(self, task_id: str, action: Awaitable[Result]) -> Result:
        """Run the action as a task of its own that a cancel request may stop; raise
        ActionCancelled if it was stopped (or asked to stop before it started)."""
        if self.requested(task_id):
            if asyncio.iscoroutine(action):
                action.close()  # never started: no "never awaited" warning
            raise ActionCancelled(task_id)
        running: asyncio.Task[Result] = asyncio.ensure_future(action)
        self._running[task_id] = running
        try:
            return await running
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our own shutdown, not a cancel request
            raise ActionCancelled(task_id) from None
        finally:
            self._running.pop(task_id, None)
            self._requested.pop(task_id, None)

"""The action registry: add an action here, with one decorator, and both services know it.

The consumer runs an action; the API calls its validator so bad data is refused with 422 before
it is queued. An action is an async function of the task's data and an ActionContext.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any, Protocol

from shared.errors import ActionDataError

Data = dict[str, Any]
Result = dict[str, Any]


class ProgressSink(Protocol):
    """Takes an action's progress (the consumer sends it on, throttled)."""

    def __call__(self, fraction: float, message: str | None, /) -> None: ...


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action may know about the run besides its data, and how it reports progress."""

    task_id: str
    attempt: int
    on_progress: ProgressSink | None = None

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far the task has come (0 to 1, with an optional message). Returns at
        once: the value is sent in the background, at most once a second (the latest wins)."""
        if not _is_number(fraction) or not 0 <= fraction <= 1:
            raise ValueError(f"progress must be a number from 0 to 1, got {fraction!r}")
        if message is not None and not isinstance(message, str):
            raise TypeError("a progress message is a string")
        if self.on_progress is not None:
            self.on_progress(float(fraction), message)


class ActionFunc(Protocol):
    def __call__(self, data: Data, ctx: ActionContext, /) -> Awaitable[Result]: ...


Validator = Callable[[Data], None]


class ActionFailed(Exception):
    """Raised by an action to fail its task with a message (any exception does the same)."""


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    run: ActionFunc
    validate: Validator | None = None
    # The action's own time limit per attempt (None: TASKQ_TASK_TIMEOUT_S).
    timeout_s: float | None = None


class Registry:
    """Actions by name, with a fallback for names nobody registered (the seed's behaviour)."""

    def __init__(self, fallback: ActionFunc) -> None:
        self._actions: dict[str, Action] = {}
        self._fallback = Action("*", fallback)

    def action(
        self, name: str, *, validate: Validator | None = None, timeout_s: float | None = None
    ) -> Callable[[ActionFunc], ActionFunc]:
        """Decorator that registers `func` as the action `name` (with its own time limit)."""

        def register(func: ActionFunc) -> ActionFunc:
            if name in self._actions:
                raise ValueError(f"action {name!r} is registered twice")
            self._actions[name] = Action(name, func, validate, timeout_s)
            return func

        return register

    def get(self, name: str) -> Action:
        """The action registered as `name`, or the fallback."""
        return self._actions.get(name, self._fallback)

    def validate(self, name: str, data: Data) -> None:
        """Raise ActionDataError if the action declares `data` invalid."""
        validator = self.get(name).validate
        if validator is not None:
            validator(data)

    def actions(self) -> list[Action]:
        """Every registered action, by name."""
        return [self._actions[name] for name in sorted(self._actions)]

    def names(self) -> list[str]:
        """Registered action names, sorted."""
        return sorted(self._actions)


async def _processed(data: Data, ctx: ActionContext) -> Result:
    return {"output": "processed"}


registry = Registry(_processed)


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_uppercase(data: Data) -> None:
    if "text" in data and not isinstance(data["text"], str):
        raise ActionDataError("data.text must be a string", "data.text")


@registry.action("uppercase", validate=_check_uppercase)
async def uppercase(data: Data, ctx: ActionContext) -> Result:
    return {"output": str(data.get("text", "")).upper()}


def _check_sum(data: Data) -> None:
    numbers = data.get("numbers", [])
    if not isinstance(numbers, list) or not all(_is_number(n) for n in numbers):
        raise ActionDataError("data.numbers must be a list of numbers", "data.numbers")


@registry.action("sum", validate=_check_sum)
async def sum_numbers(data: Data, ctx: ActionContext) -> Result:
    return {"output": sum(data.get("numbers", []))}


MAX_SLEEP_S = 300


def _check_sleep(data: Data) -> None:
    seconds = data.get("seconds", 0)
    if not _is_number(seconds) or not 0 <= seconds <= MAX_SLEEP_S:
        raise ActionDataError(
            f"data.seconds must be a number from 0 to {MAX_SLEEP_S}", "data.seconds"
        )


@registry.action("sleep", validate=_check_sleep)
async def sleep(data: Data, ctx: ActionContext) -> Result:
    await asyncio.sleep(float(data.get("seconds", 0)))
    return {"output": "slept"}


def _check_fail(data: Data) -> None:
    if "message" in data and not isinstance(data["message"], str):
        raise ActionDataError("data.message must be a string", "data.message")
    times = data.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
        raise ActionDataError("data.times must be a non-negative integer", "data.times")


@registry.action("fail", validate=_check_fail)
async def fail(data: Data, ctx: ActionContext) -> Result:
    times = data.get("times")
    if times is None or ctx.attempt <= times:
        raise ActionFailed(data.get("message") or "task failed on purpose")
    return {"output": f"succeeded on attempt {ctx.attempt}"}


MAX_COUNT = 10_000
COUNT_STEP_S = 0.1


def _check_count(data: Data) -> None:
    to = data.get("to", 10)
    if not isinstance(to, int) or isinstance(to, bool) or not 1 <= to <= MAX_COUNT:
        raise ActionDataError(f"data.to must be an integer from 1 to {MAX_COUNT}", "data.to")
    step = data.get("step_s", COUNT_STEP_S)
    if not _is_number(step) or not 0 <= step <= 10:
        raise ActionDataError("data.step_s must be a number from 0 to 10", "data.step_s")


@registry.action("count", validate=_check_count)
async def count(data: Data, ctx: ActionContext) -> Result:
    """Counts to data.to (default 10), sleeping data.step_s (0.1 s) per step and reporting
    progress as it goes: a task to watch."""
    to = int(data.get("to", 10))
    step = float(data.get("step_s", COUNT_STEP_S))
    for n in range(1, to + 1):
        await asyncio.sleep(step)
        await ctx.progress(n / to, f"counted {n} of {to}")
    return {"output": to}

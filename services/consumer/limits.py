"""Time limits of attempts: which limit applies, running an action under it, and the start-up
check against the broker's consumer_timeout (a delivery unacked for longer closes the channel,
so no limit may exceed it)."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.actions import Action, ActionContext, ActionFailed, Registry, Result
from shared.config import Settings
from shared.errors import ConfigError


def time_limit(asked_s: float | None, action: Action, settings: Settings) -> float:
    """The task's own timeout_s, else the action's default, else TASKQ_TASK_TIMEOUT_S."""
    if asked_s is not None:
        return asked_s
    if action.timeout_s is not None:
        return action.timeout_s
    return settings.task_timeout_s


def check_limits(registry: Registry, settings: Settings) -> None:
    """Refuse to start when a limit exceeds the broker's consumer_timeout (ConfigError)."""
    ceiling = settings.consumer_timeout_s
    how = (
        "raise consumer_timeout in rabbitmq.conf and TASKQ_CONSUMER_TIMEOUT_S with it"
        " (see the README, 'Time limits')"
    )
    if settings.task_timeout_s > ceiling:
        raise ConfigError(
            f"TASKQ_TASK_TIMEOUT_S ({settings.task_timeout_s:g} s) exceeds the broker's"
            f" consumer_timeout ({ceiling:g} s, TASKQ_CONSUMER_TIMEOUT_S): {how}"
        )
    for action in registry.actions():
        if action.timeout_s is not None and action.timeout_s > ceiling:
            raise ConfigError(
                f"action {action.name!r} has a time limit of {action.timeout_s:g} s, more than"
                f" the broker's consumer_timeout ({ceiling:g} s, TASKQ_CONSUMER_TIMEOUT_S): {how}"
            )


async def run_limited(
    action: Action, data: dict[str, Any], ctx: ActionContext, limit_s: float, ceiling_s: float
) -> Result:
    """Run one attempt; past `limit_s` it is cancelled and fails as `timed out after N s`."""
    if limit_s > ceiling_s:
        # The broker would close our channel first, and the task would come back forever.
        raise ActionFailed(
            f"time limit {limit_s:g} s exceeds the broker's consumer_timeout ({ceiling_s:g} s)"
        )
    scope = asyncio.timeout(limit_s)
    try:
        async with scope:
            return await action.run(data, ctx)
    except TimeoutError:
        if scope.expired():
            raise ActionFailed(f"timed out after {limit_s:g} s") from None
        raise  # the action's own TimeoutError: its failure as it is

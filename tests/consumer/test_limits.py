"""Time limits, in-process: which limit applies, an attempt cancelled at its limit, and the
start-up check against the broker's consumer_timeout."""

from __future__ import annotations

import asyncio

import pytest

from services.consumer.limits import check_limits, run_limited, time_limit
from shared.actions import Action, ActionContext, ActionFailed, Data, Registry, Result
from shared.config import Settings
from shared.errors import ConfigError
from shared.reports import Answer

CTX = ActionContext("t", 1)


async def _slow(data: Data, ctx: ActionContext) -> Result:
    await asyncio.sleep(10)
    return {}


async def _own_timeout(data: Data, ctx: ActionContext) -> Result:
    raise TimeoutError("the action's own")


def test_which_limit_applies() -> None:
    settings = Settings(task_timeout_s=300)
    assert time_limit(5, Action("a", _slow, timeout_s=60), settings) == 5
    assert time_limit(None, Action("a", _slow, timeout_s=60), settings) == 60
    assert time_limit(None, Action("a", _slow), settings) == 300


async def test_an_attempt_over_its_limit_is_cancelled() -> None:
    with pytest.raises(ActionFailed, match=r"^timed out after 0.05 s$"):
        await run_limited(Action("a", _slow), {}, CTX, 0.05, 1800)


async def test_the_actions_own_timeout_error_is_its_failure() -> None:
    with pytest.raises(TimeoutError, match="the action's own"):
        await run_limited(Action("a", _own_timeout), {}, CTX, 5, 1800)


async def test_a_limit_over_the_consumer_timeout_fails_at_once() -> None:
    with pytest.raises(ActionFailed, match="exceeds the broker's consumer_timeout"):
        await run_limited(Action("a", _slow), {}, CTX, 3600, 1800)


def test_start_up_refuses_an_action_over_the_consumer_timeout() -> None:
    registry = Registry(_slow)
    registry.action("report", timeout_s=3600)(_slow)
    with pytest.raises(ConfigError, match=r"action 'report'.*consumer_timeout"):
        check_limits(registry, Settings())
    with pytest.raises(ConfigError, match="TASKQ_TASK_TIMEOUT_S"):
        check_limits(Registry(_slow), Settings(task_timeout_s=3600))
    check_limits(Registry(_slow), Settings())


def test_a_claim_answer_carries_the_limit() -> None:
    answer = Answer(True, "running", 1, "sum", {}, 2.5)
    assert Answer.from_wire(answer.to_wire()) == answer
    assert Answer.from_wire([True, "running", 1, "sum", {}]).timeout_s is None
    assert Answer(True, "running", 1, "sum", {}).to_wire() == [True, "running", 1, "sum", {}]

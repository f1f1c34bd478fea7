"""The action registry: what each action returns, and what its validator refuses."""

from __future__ import annotations

from typing import Any

import pytest

from shared.actions import MAX_SLEEP_S, ActionContext, ActionFailed, Registry, registry
from shared.errors import ActionDataError, ValidationError


async def run(name: str, data: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    return await registry.get(name).run(data, ActionContext("id", attempt))


def test_registered_actions() -> None:
    assert registry.names() == ["count", "fail", "sleep", "sum", "uppercase"]


@pytest.mark.parametrize(
    ("name", "data", "result"),
    [
        ("uppercase", {"text": "hello world"}, {"output": "HELLO WORLD"}),
        ("uppercase", {}, {"output": ""}),
        ("uppercase", {"text": "Grüße"}, {"output": "GRÜSSE"}),
        ("sum", {"numbers": [1, 2, 3.5]}, {"output": 6.5}),
        ("sum", {"numbers": []}, {"output": 0}),
        ("sum", {}, {"output": 0}),
        ("sum", {"numbers": [-1, 1]}, {"output": 0}),
        ("sleep", {"seconds": 0}, {"output": "slept"}),
        ("sleep", {"seconds": 0.01}, {"output": "slept"}),
        ("sleep", {}, {"output": "slept"}),
        ("anything-else", {}, {"output": "processed"}),
        ("UPPERCASE", {"text": "x"}, {"output": "processed"}),
        ("resize", {"width": 10}, {"output": "processed"}),
    ],
)
async def test_action_results(name: str, data: dict[str, Any], result: dict[str, Any]) -> None:
    registry.validate(name, data)
    assert await run(name, data) == result


async def test_fail_raises_its_message() -> None:
    with pytest.raises(ActionFailed, match=r"^disk on fire$"):
        await run("fail", {"message": "disk on fire"})


async def test_fail_without_message_still_says_why() -> None:
    with pytest.raises(ActionFailed, match="failed on purpose"):
        await run("fail", {})


async def test_fail_fails_on_every_attempt_without_times() -> None:
    for attempt in (1, 2, 10):
        with pytest.raises(ActionFailed):
            await run("fail", {"message": "m"}, attempt)


async def test_fail_times_fails_only_the_first_attempts() -> None:
    data = {"message": "flaky", "times": 2}
    for attempt in (1, 2):
        with pytest.raises(ActionFailed, match=r"^flaky$"):
            await run("fail", data, attempt)
    assert await run("fail", data, 3) == {"output": "succeeded on attempt 3"}


async def test_fail_times_zero_succeeds_at_once() -> None:
    assert await run("fail", {"times": 0}, 1) == {"output": "succeeded on attempt 1"}


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("uppercase", {"text": 5}, "data.text"),
        ("uppercase", {"text": None}, "data.text"),
        ("sum", {"numbers": [1, "2"]}, "data.numbers"),
        ("sum", {"numbers": [1, True]}, "data.numbers"),
        ("sum", {"numbers": [float("nan")]}, "data.numbers"),
        ("sum", {"numbers": "1,2"}, "data.numbers"),
        ("sum", {"numbers": {"a": 1}}, "data.numbers"),
        ("sleep", {"seconds": -1}, "data.seconds"),
        ("sleep", {"seconds": MAX_SLEEP_S + 1}, "data.seconds"),
        ("sleep", {"seconds": "1"}, "data.seconds"),
        ("sleep", {"seconds": True}, "data.seconds"),
        ("sleep", {"seconds": float("inf")}, "data.seconds"),
        ("fail", {"message": 1}, "data.message"),
        ("fail", {"times": -1}, "data.times"),
        ("fail", {"times": 1.5}, "data.times"),
        ("fail", {"times": True}, "data.times"),
    ],
)
def test_validators_name_the_field(name: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(ActionDataError) as caught:
        registry.validate(name, data)
    assert caught.value.field == field
    assert field in caught.value.message
    assert isinstance(caught.value, ValidationError)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("sleep", {"seconds": MAX_SLEEP_S}),
        ("sleep", {"seconds": 0.5}),
        ("sum", {"numbers": [1, 2.5, -3]}),
        ("fail", {"message": "x", "times": 3}),
        ("unknown", {"anything": [object]}),
    ],
)
def test_validators_accept_good_data(name: str, data: dict[str, Any]) -> None:
    registry.validate(name, data)


def test_an_action_cannot_be_registered_twice() -> None:
    async def fallback(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        return {}

    local = Registry(fallback)
    local.action("x")(fallback)
    with pytest.raises(ValueError, match="registered twice"):
        local.action("x")(fallback)
    assert local.get("x").name == "x"
    assert local.get("y").name == "*"

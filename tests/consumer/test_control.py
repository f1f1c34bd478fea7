"""The worker's control decisions in-process: a high-lane retry goes back to the high lane, a
cancel request stops the action (before or while it runs) and ends the task `cancelled`, and
progress is throttled to the latest value per interval without holding up the outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.consumer.progress import TaskProgress
from shared.actions import ActionContext
from shared.reports import Answer, Op, Report
from tests.consumer.test_worker import Delivery, StubOwner, make_worker, owner, retries

__all__ = ["owner", "retries"]  # fixtures


async def test_a_high_lane_retry_goes_back_to_the_high_lane(
    owner: StubOwner, retries: list[str]
) -> None:
    task = owner.add("fail", {"message": "boom"})
    worker = make_worker(owner, max_attempts=3)
    delivery = Delivery(task.encode(), routing_key="t.high")
    await worker.handle(delivery)  # type: ignore[arg-type]
    assert delivery.settled == ["ack"]
    assert retries == ["t.high.retry.1s"]


async def running(owner: StubOwner, task_id: str) -> None:
    """Until the task's claim is committed (the stub owner commits synchronously)."""
    for _ in range(500):
        if owner.row(task_id)[0] == "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the task never started")


async def test_a_running_action_is_cancelled_on_request(owner: StubOwner) -> None:
    task = owner.add("sleep", {"seconds": 60})
    worker = make_worker(owner)
    delivery = Delivery(task.encode())
    handling = asyncio.create_task(worker.handle(delivery))  # type: ignore[arg-type]
    await running(owner, task.id)
    owner.conn.execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ?", (task.id,))
    worker.cancels.request(task.id)
    await asyncio.wait_for(handling, 5)
    assert delivery.settled == ["ack"]
    assert owner.row(task.id)[:2] == ("cancelled", 1)
    assert [r.op for r in owner.reports] == [Op.CLAIM, Op.CANCELLED]


async def test_a_request_heard_before_the_claim_answer_still_stops_it(owner: StubOwner) -> None:
    task = owner.add("sleep", {"seconds": 60})
    worker = make_worker(owner)
    worker.cancels.request(task.id)  # the broadcast overtook the claim's answer
    delivery = Delivery(task.encode())
    await asyncio.wait_for(worker.handle(delivery), 5)  # type: ignore[arg-type]
    assert delivery.settled == ["ack"]
    assert owner.row(task.id)[:2] == ("cancelled", 1)


async def test_shutdown_is_not_a_cancel(owner: StubOwner) -> None:
    task = owner.add("sleep", {"seconds": 60})
    worker = make_worker(owner)
    delivery = Delivery(task.encode())
    handling = asyncio.create_task(worker.handle(delivery))  # type: ignore[arg-type]
    await running(owner, task.id)
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling
    # unsettled: the broker redelivers it; the task is still running, not cancelled
    assert delivery.settled == []
    assert owner.row(task.id)[0] == "running"


class Recording:
    def __init__(self) -> None:
        self.reports: list[Report] = []

    async def report(self, report: Report, /) -> Answer:
        self.reports.append(report)
        return Answer(True)


async def test_progress_is_throttled_and_the_latest_wins() -> None:
    owner = Recording()
    sink = TaskProgress(owner, "id", "token", interval_s=0.2)
    ctx = ActionContext("id", 1, sink)
    for n in range(1, 11):
        await ctx.progress(n / 10, f"step {n}")
    await asyncio.sleep(0.3)
    sent: list[Any] = [r.progress for r in owner.reports]
    # the first at once, then the latest of the rest after the interval
    assert sent == [(0.1, "step 1"), (1.0, "step 10")]
    await ctx.progress(0.5)
    sink.close()
    await asyncio.sleep(0.3)
    assert len(owner.reports) == 2, "nothing is sent once the attempt is over"
    with pytest.raises(ValueError):
        await ctx.progress(1.5)


async def test_count_reports_progress_and_an_action_without_a_sink_still_runs() -> None:
    from shared.actions import registry

    seen: list[tuple[float, str | None]] = []
    ctx = ActionContext("id", 1, lambda fraction, message: seen.append((fraction, message)))
    assert await registry.get("count").run({"to": 4, "step_s": 0}, ctx) == {"output": 4}
    assert seen[-1] == (1.0, "counted 4 of 4")
    assert len(seen) == 4
    assert await registry.get("count").run({"to": 2, "step_s": 0}, ActionContext("i", 1)) == {
        "output": 2
    }

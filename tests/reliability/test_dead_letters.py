"""Guarantee 5: a task that crashes its consumer again and again is given up by the broker
(x-delivery-limit) and shows `failed` with the broker's reason."""

from __future__ import annotations

from functools import partial

import httpx
import pytest

from shared.config import Settings
from tests.support.observe import query, task_row
from tests.support.processes import Stack
from tests.support.waiting import wait_row, wait_until

pytestmark = pytest.mark.integration

DELIVERY_LIMIT = 2


@pytest.fixture
def settings(settings: Settings, settings_with) -> Settings:
    return settings_with(settings, delivery_limit=DELIVERY_LIMIT)


def test_a_crash_loop_ends_in_failed_with_delivery_limit(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    task_id = client.post("/tasks", json={"action": "sleep", "data": {"seconds": 60}}).json()["id"]

    def state() -> tuple[str, int]:
        row = task_row(settings, task_id)
        assert row is not None
        return row["status"], row["attempts"]

    def claimed_or_failed(attempt: int) -> bool:
        status, attempts = state()
        return status == "failed" or attempts >= attempt

    kills = 0
    # Each consumer takes the task and dies with it; the broker counts every lost delivery.
    for attempt in range(1, DELIVERY_LIMIT + 3):
        consumer = stack.consumer()
        wait_until(
            partial(claimed_or_failed, attempt),
            30,
            f"delivery {attempt} to be claimed (or the task given up)",
        )
        if state()[0] == "failed":
            break
        consumer.kill()
        kills += 1
    row = wait_row(
        settings, task_id, lambda row: row["dead_lettered_at"], "the dead letter to be recorded"
    )
    # RabbitMQ 3.10 gives up after the limit's redeliveries, sometimes one sooner (a killed
    # channel's delivery can count twice); never later, and never without a claim per death.
    assert 1 <= kills <= DELIVERY_LIMIT + 1
    assert row["attempts"] == kills
    assert row["status"] == "failed"
    assert row["error"] == "dead-lettered: delivery_limit"
    assert row["result"] is None
    dead = query(settings, "SELECT task_id, reason FROM dead_letters")
    assert [tuple(d) for d in dead] == [(task_id, "delivery_limit")]
    shown = client.get(f"/tasks/{task_id}").json()
    assert shown["status"] == "failed" and "delivery_limit" in shown["error"]

"""Guarantee 4: failed attempts wait on the broker (a retry queue with a TTL), not in a consumer,
and the last one fails the task through the dead queue."""

from __future__ import annotations

import time

import httpx
import pytest

from shared.config import Settings
from shared.names import Names
from tests.support.broker import Broker
from tests.support.observe import RowHistory, consumer_metric, query, status_of
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row, wait_row, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings: Settings, settings_with) -> Settings:
    # a second between attempts, so the `retrying` state is there to be seen
    return settings_with(settings, retry_delays_s=(1.0,), max_attempts=3)


def test_fail_twice_then_succeed_on_attempt_three(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    task_id = client.post("/tasks", json={"action": "fail", "data": {"times": 2}}).json()["id"]
    history = RowHistory(settings, [task_id], lambda row: (row["status"], row["attempts"]))
    row = wait_final_row(settings, task_id)
    seen = history.stop()[task_id]
    assert row["status"] == "completed"
    assert row["attempts"] == 3
    assert row["result"] == '{"output":"succeeded on attempt 3"}'
    assert row["error"] is None
    assert ("retrying", 1) in seen and ("retrying", 2) in seen, seen
    assert query(settings, "SELECT * FROM dead_letters") == []


def test_always_failing_task_fails_after_max_attempts_via_the_dead_queue(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    body = {"action": "fail", "data": {"message": "boom"}}
    task_id = client.post("/tasks", json=body).json()["id"]
    history = RowHistory(settings, [task_id], lambda row: (row["status"], row["attempts"]))
    wait_final_row(settings, task_id)
    row = wait_row(
        settings,
        task_id,
        lambda row: row["dead_lettered_at"],
        "the dead queue to record the failed task",
    )
    seen = history.stop()[task_id]
    assert row["status"] == "failed"
    assert row["attempts"] == settings.max_attempts == 3
    assert row["error"] == "boom"  # the action's own error, not the broker's
    assert row["result"] is None
    assert ("retrying", 1) in seen and ("retrying", 2) in seen, seen
    assert ("retrying", 3) not in seen
    dead = query(settings, "SELECT task_id, reason FROM dead_letters")
    assert [tuple(d) for d in dead] == [(task_id, "rejected")]
    task = client.get(f"/tasks/{task_id}").json()
    assert task["status"] == "failed" and task["error"] == "boom"


# The management API shows quorum-queue counts as of the queue's last tick (every 5 s), sampled
# every 5 s: a number read this long after an event reflects it.
STATS_LAG_S = 14
SLOW_RETRY_S = 25.0


def test_no_consumer_holds_a_message_while_it_waits_to_retry(
    stack: Stack, settings: Settings, settings_with, broker: Broker, client: httpx.Client
) -> None:
    slow_retry = settings_with(settings, retry_delays_s=(SLOW_RETRY_S,), max_attempts=2)
    names = Names(settings.queue)
    stack.migrate()
    stack.api()
    stack.consumer(slow_retry)
    task_id = client.post("/tasks", json={"action": "fail", "data": {"times": 1}}).json()["id"]
    wait_until(lambda: status_of(settings, task_id) == "retrying", 30, "the first attempt to fail")

    time.sleep(STATS_LAG_S)
    work = broker.queue(names.work_queue)
    in_flight = consumer_metric(settings, "taskq_tasks_in_flight")
    # the broker holds it, in the retry queue
    wait_until(
        lambda: broker.queue(names.retry_queue(SLOW_RETRY_S)).get("messages") == 1,
        SLOW_RETRY_S,
        "the retry queue to report the message",
        every=0.5,
    )
    assert status_of(settings, task_id) == "retrying", "the retry came before the stats did"
    assert work.get("messages_unacknowledged") == 0, work
    assert work.get("messages") == 0, work
    assert in_flight == 0
    row = wait_final_row(settings, task_id, timeout=60)
    assert row["status"] == "completed" and row["attempts"] == 2

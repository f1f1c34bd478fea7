"""Guarantee 3: at-least-once processing, effectively-once results."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.config import Settings
from shared.models import Envelope
from shared.names import Names
from tests.support.broker import Broker
from tests.support.observe import consumer_metric, publish_raw, query, status_of, task_row
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row, wait_row, wait_until

pytestmark = pytest.mark.integration


def test_a_consumer_killed_mid_task_loses_nothing(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    first = stack.consumer()
    task_id = client.post("/tasks", json={"action": "sleep", "data": {"seconds": 2}}).json()["id"]
    wait_until(
        lambda: status_of(settings, task_id) == "running", 30, "the first consumer to start it"
    )

    first.kill()
    stack.consumer()
    row = wait_final_row(settings, task_id)
    assert row["status"] == "completed"
    assert json.loads(row["result"]) == {"output": "slept"}
    assert row["error"] is None
    # the killed attempt counted, the redelivery finished it
    assert row["attempts"] == 2
    assert len(query(settings, "SELECT 1 FROM tasks WHERE id = ?", (task_id,))) == 1
    assert query(settings, "SELECT * FROM dead_letters") == []


def test_a_duplicate_of_a_completed_task_is_acked_without_running(
    stack: Stack, settings: Settings, broker: Broker, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    body = {"action": "uppercase", "data": {"text": "once"}}
    task_id = client.post("/tasks", json=body).json()["id"]
    assert wait_final_row(settings, task_id)["status"] == "completed"
    # the confirm is marked asynchronously; wait for the row to settle before comparing
    before = wait_row(
        settings, task_id, lambda row: row["published"] == 1, "the task's confirm to be marked"
    )

    names = Names(settings.queue)
    envelope = Envelope(task_id, "uppercase", {"text": "twice"}).encode()
    for _ in range(3):
        publish_raw(broker, names.exchange, names.routing_key, envelope, message_id=task_id)
    wait_until(
        lambda: consumer_metric(settings, "taskq_deliveries_skipped_total", why="duplicate") == 3,
        30,
        "the consumer to skip the three duplicates",
    )
    after = task_row(settings, task_id)
    assert after is not None
    assert dict(after) == dict(before)  # same attempts, result, timestamps: nothing ran again

"""Guarantee 6: failed tasks can be replayed, one or many, with fresh attempts."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.clock import now_ms
from shared.config import Settings
from tests.support.observe import query, status_of
from tests.support.processes import Stack
from tests.support.rows import plant_into
from tests.support.waiting import wait_final_row

pytestmark = pytest.mark.integration


def fail_once(client: httpx.Client) -> str:
    """A task that fails its first attempt and succeeds on its second."""
    response = client.post("/tasks", json={"action": "fail", "data": {"times": 1}})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def plant_failed(settings: Settings, action: str) -> str:
    now = now_ms()
    return plant_into(
        settings.db_path,
        status="failed",
        action=action,
        error="old failure",
        attempts=3,
        created_at=now,
        started_at=now,
        processed_at=now,
    )


def test_replay_one_failed_task(
    stack: Stack, settings: Settings, settings_with, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    # one attempt only: the task fails for good on its first try
    first = stack.consumer(settings_with(settings, max_attempts=1))
    task_id = fail_once(client)
    failed = wait_final_row(settings, task_id)
    assert failed["status"] == "failed" and failed["attempts"] == 1
    first.terminate()

    response = client.post(f"/tasks/{task_id}/retry")
    assert response.status_code == 202, response.text
    assert response.json() == {"id": task_id, "status": "queued"}
    assert response.headers["Location"] == f"/tasks/{task_id}"
    queued = client.get(f"/tasks/{task_id}").json()
    assert queued["status"] == "queued"
    assert queued["attempts"] == 0
    assert queued["error"] is None and queued["result"] is None and queued["processed_at"] is None

    stack.consumer()  # three attempts now
    row = wait_final_row(settings, task_id)
    # attempts counted afresh: the replay's second attempt is the one that succeeds
    assert row["status"] == "completed"
    assert row["attempts"] == 2
    assert row["result"] == '{"output":"succeeded on attempt 2"}'
    assert row["dead_lettered_at"] is None
    assert len(query(settings, "SELECT 1 FROM tasks")) == 1


def test_replay_refuses_what_it_cannot_replay(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    done = client.post("/tasks", json={"action": "uppercase", "data": {"text": "x"}}).json()["id"]
    assert wait_final_row(settings, done)["status"] == "completed"

    conflict = client.post(f"/tasks/{done}/retry")
    assert conflict.status_code == 409
    assert "completed" in conflict.json()["error"]
    assert status_of(settings, done) == "completed"
    missing = client.post(f"/tasks/{uuid.uuid4()}/retry")
    assert missing.status_code == 404 and missing.json()["error"]
    for bad in ("not-a-uuid", str(uuid.uuid4()).upper(), "1234"):
        response = client.post(f"/tasks/{bad}/retry")
        assert response.status_code == 400, bad
        assert response.json()["error"]
    wrong = client.post("/tasks/retry", params={"status": "completed"})
    assert wrong.status_code == 400 and wrong.json()["error"]


def test_bulk_replay_by_action(
    stack: Stack, settings: Settings, settings_with, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    first = stack.consumer(settings_with(settings, max_attempts=1))
    failing = [fail_once(client) for _ in range(3)]
    for task_id in failing:
        assert wait_final_row(settings, task_id)["status"] == "failed"
    first.terminate()
    other = plant_failed(settings, "something-else")

    response = client.post("/tasks/retry", params={"status": "failed", "action": "fail"})
    assert response.status_code == 202, response.text
    assert response.json() == {"retried": 3, "more": False}
    assert status_of(settings, other) == "failed"  # another action: left alone

    stack.consumer()
    for task_id in failing:
        row = wait_final_row(settings, task_id)
        assert row["status"] == "completed" and row["attempts"] == 2

    response = client.post("/tasks/retry", params={"status": "failed"})
    assert response.status_code == 202
    assert response.json() == {"retried": 1, "more": False}
    assert wait_final_row(settings, other)["status"] == "completed"
    nothing = client.post("/tasks/retry", params={"status": "failed"})
    assert nothing.json() == {"retried": 0, "more": False}

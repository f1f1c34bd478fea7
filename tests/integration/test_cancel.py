"""Cancel with real processes: a task in every state, and a running `sleep` stopped mid-way by
its consumer on the broadcast from the API."""

from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import closing
from typing import Any

import httpx
import pytest

from shared.config import Settings
from tests.support.observe import consumer_metric
from tests.support.processes import Stack
from tests.support.waiting import wait_final_task, wait_task_status, wait_until

pytestmark = pytest.mark.integration


def submit(client: httpx.Client, action: str, data: dict[str, Any]) -> str:
    accepted = client.post("/tasks", json={"action": action, "data": data})
    assert accepted.status_code == 202, accepted.text
    task_id: str = accepted.json()["id"]
    return task_id


def skipped_as_cancelled(stack: Stack) -> float:
    """Deliveries the consumer acked without running, their task being cancelled."""
    return consumer_metric(stack.settings, "taskq_deliveries_skipped_total", why="cancelled")


def test_cancel_in_every_state(stack: Stack, settings: Settings) -> None:
    stack.migrate()
    stack.api()
    with httpx.Client(base_url=stack.api_url()) as client:
        # queued: nobody consumes yet
        queued = submit(client, "uppercase", {"text": "never"})
        answer = client.post(f"/tasks/{queued}/cancel")
        assert answer.status_code == 200
        assert answer.json() == {"id": queued, "status": "cancelled"}
        assert client.post(f"/tasks/{queued}/cancel").status_code == 409
        assert client.post(f"/tasks/{uuid.uuid4()}/cancel").status_code == 404
        assert client.post("/tasks/not-a-uuid/cancel").status_code == 400

        stack.consumer()
        # its message is delivered now and acked without running
        wait_until(
            lambda: skipped_as_cancelled(stack) >= 1,
            30,
            "the cancelled task's delivery skipped",
        )
        task = client.get(f"/tasks/{queued}").json()
        assert (task["status"], task["attempts"], task["result"]) == ("cancelled", 0, None)

        # running: a long sleep, stopped mid-way
        running = submit(client, "sleep", {"seconds": 60})
        wait_task_status(client, running, {"running"})
        answer = client.post(f"/tasks/{running}/cancel")
        assert answer.status_code == 202
        assert answer.json() == {"id": running, "status": "running", "cancel_requested": True}
        task = wait_final_task(client, running, timeout=10)
        assert (task["status"], task["attempts"], task["result"]) == ("cancelled", 1, None)
        # never retried: still cancelled, one attempt, after the retry delays have passed
        time.sleep(max(settings.retry_delays_s) * 2)
        task = client.get(f"/tasks/{running}").json()
        assert (task["status"], task["attempts"]) == ("cancelled", 1)

        # completed: final, 409
        done = submit(client, "sum", {"numbers": [1, 2]})
        wait_task_status(client, done, {"completed"})
        refused = client.post(f"/tasks/{done}/cancel")
        assert refused.status_code == 409
        assert "completed" in refused.json()["error"]

        # failed: final too
        broken = submit(client, "fail", {"message": "no"})
        wait_task_status(client, broken, {"failed"})
        refused = client.post(f"/tasks/{broken}/cancel")
        assert refused.status_code == 409
        assert "failed" in refused.json()["error"]

        listed = client.get("/tasks", params={"status": "cancelled"}).json()
        assert {t["id"] for t in listed["tasks"]} == {queued, running}
        counts = client.get("/stats").json()["counts"]
        assert counts["cancelled"] == 2
        metrics = client.get("/metrics").text
        assert 'taskq_tasks_cancelled_total{how="now"} 1.0' in metrics
        assert 'taskq_tasks_cancelled_total{how="requested"} 1.0' in metrics


def test_a_retrying_task_is_cancelled_and_its_retry_not_run(
    stack: Stack, settings: Settings, settings_with: Any
) -> None:
    slow_retry = settings_with(settings, retry_delays_s=(3.0,))
    stack.settings = slow_retry
    stack.migrate()
    stack.api()
    stack.consumer()
    with httpx.Client(base_url=stack.api_url()) as client:
        task_id = submit(client, "fail", {"times": 1})
        wait_task_status(client, task_id, {"retrying"})
        answer = client.post(f"/tasks/{task_id}/cancel")
        assert answer.json() == {"id": task_id, "status": "cancelled"}
        # the retry message comes back after its delay and is acked without running
        wait_until(
            lambda: skipped_as_cancelled(stack) >= 1,
            30,
            "the retry's delivery skipped",
        )
        task = client.get(f"/tasks/{task_id}").json()
        assert (task["status"], task["attempts"]) == ("cancelled", 1)


def test_cancel_many(stack: Stack, settings: Settings) -> None:
    stack.migrate()
    stack.api()
    with httpx.Client(base_url=stack.api_url()) as client:
        sleeps = [submit(client, "sleep", {"seconds": 1}) for _ in range(3)]
        other = submit(client, "sum", {"numbers": [1]})
        assert client.post("/tasks/cancel", params={"status": "completed"}).status_code == 400
        answer = client.post("/tasks/cancel", params={"status": "queued", "action": "sleep"})
        assert answer.status_code == 200
        assert answer.json() == {"count": 3, "cancelled": 3, "cancel_requested": 0, "more": False}
        for task_id in sleeps:
            assert client.get(f"/tasks/{task_id}").json()["status"] == "cancelled"
        assert client.get(f"/tasks/{other}").json()["status"] == "queued"
    with closing(sqlite3.connect(settings.db_path)) as db:
        assert db.execute("SELECT COUNT(*) FROM tasks WHERE status = 'cancelled'").fetchone() == (
            3,
        )


def test_a_lost_broadcast_is_sent_again(stack: Stack, settings: Settings) -> None:
    """The consumer was away when the request went out: the API repeats it until the task
    stops."""
    stack.migrate()
    stack.api()
    stack.consumer()
    with httpx.Client(base_url=stack.api_url()) as client:
        task_id = submit(client, "sleep", {"seconds": 60})
        wait_task_status(client, task_id, {"running"})
        # the request as the API records it, without its broadcast
        with closing(sqlite3.connect(settings.db_path)) as db:
            db.execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ?", (task_id,))
            db.commit()
        task = wait_final_task(client, task_id)
        assert (task["status"], task["attempts"]) == ("cancelled", 1)

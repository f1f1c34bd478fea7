"""The seed's examples end to end: real API and consumer processes, real broker, real SQLite."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.processes import Stack

pytestmark = pytest.mark.integration


def wait_final(client: httpx.Client, task_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/tasks/{task_id}").json()
        if task["status"] in {"completed", "failed"}:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} not final after {timeout}s: {task}")


@pytest.mark.parametrize(
    ("body", "result"),
    [
        ({"action": "uppercase", "data": {"text": "hello world"}}, {"output": "HELLO WORLD"}),
        ({"action": "sum", "data": {"numbers": [1, 2, 3.5]}}, {"output": 6.5}),
        ({"action": "anything-else", "data": {}}, {"output": "processed"}),
        ({"action": "uppercase"}, {"output": ""}),
    ],
)
def test_seed_examples_complete(stack: Stack, body: dict, result: dict) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    with httpx.Client(base_url=stack.api_url()) as client:
        accepted = client.post("/tasks", json=body)
        assert accepted.status_code == 202
        task_id = accepted.json()["id"]
        assert accepted.json() == {"id": task_id, "status": "queued"}
        assert accepted.headers["Location"] == f"/tasks/{task_id}"
        # read-your-writes: the task is there right after its 202
        assert client.get(f"/tasks/{task_id}").status_code == 200
        task = wait_final(client, task_id)
        assert task["status"] == "completed"
        assert task["result"] == result
        assert task["attempts"] == 1
        assert task["error"] is None
        assert task["created_at"] <= task["started_at"] <= task["processed_at"]
        listed = client.get("/tasks", params={"status": "completed"}).json()
        assert [t["id"] for t in listed["tasks"]] == [task_id]

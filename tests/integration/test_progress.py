"""Progress with real processes: the built-in `count` action's progress is visible while it
runs, and the task ends with its result."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.processes import Stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_progress_is_visible_while_the_task_runs(stack: Stack) -> None:
    stack.migrate()
    stack.api()
    with httpx.Client(base_url=stack.api_url()) as client:
        accepted = client.post("/tasks", json={"action": "count", "data": {"to": 40}})
        task_id = accepted.json()["id"]
        # no consumer yet: a queued task has no progress
        assert client.get(f"/tasks/{task_id}").json()["progress"] is None
        stack.consumer()
        seen: list[dict[str, Any]] = []

        def completed() -> dict[str, Any] | None:
            task: dict[str, Any] = client.get(f"/tasks/{task_id}").json()
            if task["status"] == "completed":
                return task
            if task["progress"] is not None:
                assert task["status"] == "running"
                seen.append(task["progress"])
            return None

        task = wait_until(completed, 60, "count to complete", every=0.1)
        fractions = [p["fraction"] for p in seen]
        assert fractions, "no progress was seen while the task ran"
        assert all(0 < f < 1 for f in fractions)
        assert fractions == sorted(fractions)
        assert len(set(fractions)) >= 2, "progress moved on while the task ran"
        assert seen[-1]["message"].startswith("counted ")
        assert seen[-1]["updated_at"] >= task["started_at"]
        assert task["result"] == {"output": 40}
        assert task["progress"]["fraction"] == 1.0

"""Priority lanes with real processes: high-priority tasks overtake a backlog of normal ones,
and a failing high task retries in its own lane."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.config import Settings
from tests.support.processes import Stack
from tests.support.waiting import wait_task_status

pytestmark = pytest.mark.integration


def test_the_high_lane_overtakes_a_backlog(
    stack: Stack, settings: Settings, settings_with: Any
) -> None:
    # the seed's 100 ms of work: 2 channels x 5 prefetch get through ~100 tasks a second
    seeded = settings_with(settings, work_delay_ms=100)
    stack.settings = seeded
    stack.migrate()
    stack.api()
    stack.consumer()
    with httpx.Client(base_url=stack.api_url(), timeout=30) as client:
        backlog = [{"action": "sum", "data": {"numbers": [n]}} for n in range(1000)]
        accepted = client.post("/tasks/batch", json={"tasks": backlog})
        assert accepted.status_code == 202
        urgent = [
            client.post(
                "/tasks", json={"action": "uppercase", "data": {"text": "now"}, "priority": "high"}
            ).json()["id"]
            for _ in range(5)
        ]
        flaky = client.post(
            "/tasks", json={"action": "fail", "data": {"times": 1}, "priority": "high"}
        ).json()["id"]
        for task_id in [*urgent, flaky]:
            wait_task_status(client, task_id, {"completed"}, timeout=60)
        # every urgent task is done while most of the backlog still waits in its lane
        stats = client.get("/stats").json()
        normal = stats["by_priority"]["normal"]
        assert normal["queued"] > 500, stats
        assert stats["by_priority"]["high"] == {"queued": 0, "running": 0, "retrying": 0}
        shown = client.get(f"/tasks/{urgent[0]}").json()
        assert shown["priority"] == "high"
        high = client.get("/tasks", params={"priority": "high"}).json()
        assert {t["id"] for t in high["tasks"]} == {*urgent, flaky}
        retried = client.get(f"/tasks/{flaky}").json()
        assert (retried["attempts"], retried["priority"]) == (2, "high")
        # clear the backlog rather than wait for it
        assert client.post("/tasks/cancel", params={"status": "queued"}).json()["count"] > 0

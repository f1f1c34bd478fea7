"""Listing real results from the real API process: filters and a cursor over several pages."""

from __future__ import annotations

import time

import httpx
import pytest

from shared.config import Settings
from tests.support.processes import Stack
from tests.support.waiting import wait_final_task

pytestmark = pytest.mark.integration

MAX_PAGES = 20


def pages(client: httpx.Client, **params: str | int) -> list[list[dict]]:
    found: list[list[dict]] = []
    cursor: str | None = None
    while len(found) < MAX_PAGES:
        query: dict[str, str | int] = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/tasks", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["tasks"])
        found.append(body["tasks"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError(f"more than {MAX_PAGES} pages: the cursor does not advance")


def test_filters_and_cursor_over_several_pages(
    stack: Stack, settings: Settings, settings_with
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer(settings_with(settings, max_attempts=1))
    bodies = [
        {"action": "uppercase", "data": {"text": "a"}},
        {"action": "fail", "data": {"message": "one"}},
        {"action": "sum", "data": {"numbers": [1]}},
        {"action": "uppercase", "data": {"text": "b"}},
        {"action": "fail", "data": {"message": "two"}},
        {"action": "sum", "data": {"numbers": [2]}},
        {"action": "uppercase", "data": {"text": "c"}},
    ]
    with httpx.Client(base_url=stack.api_url()) as client:
        ids = []
        for body in bodies:
            time.sleep(0.002)  # a millisecond of its own: creation order is listing order
            response = client.post("/tasks", json=body)
            assert response.status_code == 202
            ids.append(response.json()["id"])
        for task_id in ids:
            wait_final_task(client, task_id)
        newest_first = list(zip(ids, bodies, strict=True))[::-1]

        def expected(action: str | None = None, status: str | None = None) -> list[str]:
            return [
                i
                for i, body in newest_first
                if action in (None, body["action"])
                and status in (None, "failed" if body["action"] == "fail" else "completed")
            ]

        everything = pages(client, limit=3)
        assert [len(p) for p in everything] == [3, 3, 1]
        assert [t["id"] for p in everything for t in p] == expected()

        failed = pages(client, status="failed", limit=1)
        assert [[t["id"] for t in p] for p in failed] == [[i] for i in expected(status="failed")]
        assert [t["error"] for p in failed for t in p] == ["two", "one"]

        upper = pages(client, action="uppercase", limit=2)
        assert [len(p) for p in upper] == [2, 1]
        assert [t["id"] for p in upper for t in p] == expected("uppercase")
        assert [t["result"]["output"] for p in upper for t in p] == ["C", "B", "A"]

        sums = pages(client, action="sum", status="completed", limit=1)
        assert [t["id"] for p in sums for t in p] == expected("sum", "completed")
        assert pages(client, action="sum", status="failed") == [[]]

        bad = client.get("/tasks", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400
        assert "cursor" in bad.json()["error"]

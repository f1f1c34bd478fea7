"""Guarantee 7: an Idempotency-Key makes a retried POST safe."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.config import Settings
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.observe import query
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row, wait_until

pytestmark = pytest.mark.integration

BODY = {"action": "sum", "data": {"numbers": [1, 2, 3]}}


def test_same_key_same_body_is_the_same_task(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    headers = {"Idempotency-Key": "order-42"}
    first = client.post("/tasks", json=BODY, headers=headers)
    assert first.status_code == 202
    task_id = first.json()["id"]
    assert wait_final_row(settings, task_id)["status"] == "completed"

    # same body, keys in another order: the same request
    again = client.post(
        "/tasks", json={"data": {"numbers": [1, 2, 3]}, "action": "sum"}, headers=headers
    )
    assert again.status_code == 202
    assert again.json() == {"id": task_id, "status": "completed"}
    assert again.headers["Idempotent-Replayed"] == "true"

    other = client.post("/tasks", json={"action": "sum", "data": {"numbers": [9]}}, headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["error"]

    assert [r["id"] for r in query(settings, "SELECT id FROM tasks")] == [task_id]
    row = query(settings, "SELECT attempts FROM tasks WHERE id = ?", (task_id,))[0]
    assert row["attempts"] == 1


def test_concurrent_requests_with_one_key_make_one_task(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()

    def post(_: int) -> httpx.Response:
        return client.post("/tasks", json=BODY, headers={"Idempotency-Key": "burst"})

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(post, range(32)))
    # 409: the first request was still waiting for its confirm (try again after Retry-After)
    assert {r.status_code for r in responses} <= {202, 409}
    assert all(r.headers["Retry-After"] for r in responses if r.status_code == 409)
    ids = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(ids) == 1
    # and once the broker has confirmed it, every repeat names it
    again = wait_until(lambda: (r := post(0)).status_code == 202 and r, 10, "a 202 repeat")
    assert again.json()["id"] in ids
    assert [r["id"] for r in query(settings, "SELECT id FROM tasks")] == list(ids)
    assert wait_final_row(settings, ids.pop())["status"] == "completed"


def test_a_key_whose_first_request_fails_never_answers_202_for_nothing(
    settings: Settings, api_via_proxy: Callable[..., TcpProxy], client: httpx.Client
) -> None:
    """The retry of a request still waiting for its confirm must not be told 202 for a task
    that the first request then withdraws (503)."""
    proxy = api_via_proxy(publish_timeout_s=3)
    headers = {"Idempotency-Key": "stalled"}

    proxy.freeze()
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/tasks", json=BODY, headers=headers)
            # the first request has stored its row and waits for the broker's confirm
            wait_until(lambda: query(settings, "SELECT id FROM tasks"), 10, "the first insert")
            second = client.post("/tasks", json=BODY, headers=headers)
            first_response = first.result()
    finally:
        proxy.restore()
    assert first_response.status_code == 503
    if second.status_code == 202:
        found = client.get(f"/tasks/{second.json()['id']}")
        assert found.status_code == 200, "a 202 for a task that was withdrawn"
    assert second.status_code == 409, second.text
    assert second.json()["error"] and second.headers["Retry-After"]

    # once the broker is back, the same key gets its task
    wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the API to reconnect")
    third = client.post("/tasks", json=BODY, headers=headers)
    assert third.status_code == 202, third.text
    assert wait_final_row(settings, third.json()["id"])["status"] == "completed"
    assert [r["id"] for r in query(settings, "SELECT id FROM tasks")] == [third.json()["id"]]

"""The time endpoints on the API with its real resources: delayed submissions, DELETE
/tasks/{id}, and /schedules (201, 409, 422, PATCH, DELETE)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]

pytestmark = pytest.mark.integration


async def test_a_delayed_task_is_scheduled(client: Client) -> None:
    response = await client.post("/tasks", json={"action": "sum", "data": {}, "delay_s": 60})
    assert response.status == 202
    body = await response.json()
    assert body["status"] == "scheduled"
    task = await (await client.get(f"/tasks/{body['id']}")).json()
    assert task["status"] == "scheduled" and task["run_at"] is not None
    listed = await (await client.get("/tasks", params={"status": "scheduled"})).json()
    assert [t["id"] for t in listed["tasks"]] == [body["id"]]
    stats = await (await client.get("/stats")).json()
    assert stats["counts"]["scheduled"] == 1


async def test_a_run_at_in_the_past_queues_now(client: Client) -> None:
    response = await client.post(
        "/tasks", json={"action": "sum", "run_at": "2001-01-01T00:00:00Z", "timeout_s": 5}
    )
    assert response.status == 202
    body = await response.json()
    assert body["status"] == "queued"
    task = await (await client.get(f"/tasks/{body['id']}")).json()
    assert task["timeout_s"] == 5


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"delay_s": 31 * 86400}, 422),
        ({"delay_s": -1}, 422),
        ({"delay_s": "soon"}, 400),
        ({"run_at": "not a time"}, 400),
        ({"timeout_s": 86400}, 422),
    ],
)
async def test_bad_timing_is_refused(client: Client, extra: dict[str, Any], status: int) -> None:
    response = await client.post("/tasks", json={"action": "sum", **extra})
    assert response.status == status


async def test_delete_a_task(client: Client) -> None:
    scheduled = (await (await client.post("/tasks", json={"action": "sum", "delay_s": 60})).json())[
        "id"
    ]
    assert (await client.delete(f"/tasks/{scheduled}")).status == 409
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await client.delete(f"/tasks/{unknown}")).status == 404
    assert (await client.get(f"/tasks/{scheduled}")).status == 200


async def test_schedules_crud(client: Client) -> None:
    body = {
        "name": "nightly-report",
        "action": "sum",
        "data": {"numbers": [1]},
        "cron": "0 3 * * *",
        "timezone": "Europe/Berlin",
    }
    created = await client.post("/schedules", json=body)
    assert created.status == 201
    shown = await created.json()
    assert shown["next_run_at"] is not None and shown["enabled"] is True
    assert (await client.post("/schedules", json=body)).status == 409
    assert (await client.post("/schedules", json={**body, "name": "b", "cron": "x"})).status == 422
    bad_zone = {**body, "name": "c", "timezone": "Nowhere/Land"}
    assert (await client.post("/schedules", json=bad_zone)).status == 422

    paused = await client.patch("/schedules/nightly-report", json={"enabled": False})
    assert (await paused.json())["next_run_at"] is None
    changed = await client.patch(
        "/schedules/nightly-report", json={"every_s": 3600, "enabled": True}
    )
    assert (await changed.json())["every_s"] == 3600 and (await changed.json())["cron"] is None
    listed = await (await client.get("/schedules")).json()
    assert [s["name"] for s in listed["schedules"]] == ["nightly-report"]
    assert (await client.delete("/schedules/nightly-report")).status == 204
    assert (await client.get("/schedules/nightly-report")).status == 404
    assert (await client.delete("/schedules/nightly-report")).status == 404

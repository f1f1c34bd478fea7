"""GET /tasks/{id}, the probes, and errors that are always JSON."""

from __future__ import annotations

import re
import sqlite3
import uuid

import pytest
from aiohttp.test_utils import TestClient

from services.api.openapi import document
from tests.api.conftest import insert_task

pytestmark = pytest.mark.integration

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# the document is the contract: a task has exactly the fields it promises
TASK_FIELDS = set(document()["components"]["schemas"]["Task"]["properties"])


async def test_a_task_is_readable_right_after_its_202(client: TestClient) -> None:
    accepted = await client.post("/tasks", json={"action": "sum", "data": {"numbers": [1, 2]}})
    assert accepted.status == 202
    task_id = (await accepted.json())["id"]
    response = await client.get(accepted.headers["Location"])
    assert response.status == 200
    task = await response.json()
    assert set(task) == TASK_FIELDS
    assert task["id"] == task_id
    assert task["action"] == "sum"
    assert task["data"] == {"numbers": [1, 2]}
    assert task["status"] == "queued"
    assert (task["result"], task["error"], task["attempts"]) == (None, None, 0)
    assert RFC3339_MS.match(task["created_at"])
    assert task["started_at"] is None
    assert task["processed_at"] is None


async def test_a_finished_task_shows_its_result_and_timestamps(
    client: TestClient, db: sqlite3.Connection
) -> None:
    task_id = insert_task(db, created_at=1_700_000_000_000, action="uppercase")
    db.execute(
        "UPDATE tasks SET status = 'completed', result = '{\"output\":\"HI\"}', attempts = 2,"
        " error = NULL, started_at = 1700000000250, processed_at = 1700000001007 WHERE id = ?",
        (task_id,),
    )
    task = await (await client.get(f"/tasks/{task_id}")).json()
    assert task == {
        "id": task_id,
        "action": "uppercase",
        "data": {},
        "status": "completed",
        "result": {"output": "HI"},
        "error": None,
        "attempts": 2,
        "created_at": "2023-11-14T22:13:20.000Z",
        "started_at": "2023-11-14T22:13:20.250Z",
        "processed_at": "2023-11-14T22:13:21.007Z",
        "run_at": None,
        "timeout_s": None,
        "schedule": None,
        "priority": "normal",
        "progress": None,
    }


async def test_an_unknown_task_is_404(client: TestClient) -> None:
    response = await client.get(f"/tasks/{uuid.uuid4()}")
    assert response.status == 404
    assert await response.json() == {"error": "task not found"}


async def test_an_invalid_id_is_400(client: TestClient, subtests) -> None:
    for bad in ["nope", "123", str(uuid.uuid4()).upper(), uuid.uuid4().hex, "%20"]:
        with subtests.test(id=bad):
            response = await client.get(f"/tasks/{bad}")
            assert response.status == 400
            assert response.content_type == "application/json"
            assert "UUID" in (await response.json())["error"]


async def test_healthz(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_when_broker_and_database_are_fine(client: TestClient) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "ready", "broker": True, "database": True}


async def test_wrong_methods_are_405_as_json(client: TestClient, subtests) -> None:
    task_path = f"/tasks/{uuid.uuid4()}"
    for method, path, allowed in [
        ("DELETE", "/tasks", {"GET", "POST"}),
        ("PUT", "/tasks", {"GET", "POST"}),
        ("PATCH", task_path, {"GET", "DELETE"}),
        ("PUT", task_path, {"GET", "DELETE"}),
        ("POST", "/healthz", {"GET"}),
        ("POST", "/readyz", {"GET"}),
    ]:
        with subtests.test(method=method, path=path):
            response = await client.request(method, path)
            assert response.status == 405
            assert response.content_type == "application/json"
            assert await response.json() == {"error": "method not allowed"}
            assert allowed <= set(response.headers["Allow"].replace(" ", "").split(","))


async def test_an_unknown_path_is_404_as_json(client: TestClient, subtests) -> None:
    for path in ["/nope", "/tasks/", "/tasks/a/b/c"]:
        with subtests.test(path=path):
            response = await client.get(path)
            assert response.status == 404
            assert response.content_type == "application/json"
            assert "error" in await response.json()

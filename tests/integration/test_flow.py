"""The seed's examples end to end: real API and consumer processes, real broker, real SQLite."""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from contextlib import closing

import httpx
import orjson
import pytest

from shared.config import Settings
from shared.names import Names
from tests.support.broker import Broker
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


SEED_EXAMPLES = [
    ({"action": "uppercase", "data": {"text": "hello world"}}, {"output": "HELLO WORLD"}),
    ({"action": "sum", "data": {"numbers": [1, 2, 3.5]}}, {"output": 6.5}),
    ({"action": "anything-else", "data": {}}, {"output": "processed"}),
    ({"action": "uppercase"}, {"output": ""}),
]


def test_seed_examples_complete(stack: Stack, subtests) -> None:
    # One stack for every example: starting the processes costs more than the examples.
    stack.migrate()
    stack.api()
    stack.consumer()
    with httpx.Client(base_url=stack.api_url()) as client:
        for done, (body, result) in enumerate(SEED_EXAMPLES, start=1):
            with subtests.test(body=body):
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
                assert listed["count"] == done
                assert listed["tasks"][0]["id"] == task_id


def wait_for(probe, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} not seen after {timeout}s")


def dead_letters(db_path: str) -> list[tuple]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute("SELECT task_id, reason, body FROM dead_letters ORDER BY id").fetchall()


def task_row(db_path: str, task_id: str) -> sqlite3.Row:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()


def test_a_failing_task_is_failed_with_its_error_and_dead_lettered(
    stack: Stack, settings: Settings, settings_with, broker: Broker
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer(settings_with(settings, max_attempts=1))
    with httpx.Client(base_url=stack.api_url()) as client:
        accepted = client.post(
            "/tasks", json={"action": "fail", "data": {"message": "disk on fire"}}
        )
        assert accepted.status_code == 202
        task_id = accepted.json()["id"]
        task = wait_final(client, task_id)
        assert task["status"] == "failed"
        assert task["error"] == "disk on fire"
        assert task["attempts"] == 1
        assert task["result"] is None
        assert task["processed_at"] is not None

        # The rejected message went through <queue>.dlx to <queue>.dead and was recorded.
        (letter,) = wait_for(lambda: dead_letters(settings.db_path), "the dead letter")
        assert letter[0] == task_id
        assert letter[1] == "rejected"
        assert orjson.loads(letter[2])["data"] == {"message": "disk on fire"}
        row = task_row(settings.db_path, task_id)
        assert row["dead_lettered_at"] is not None
        assert row["dead_lettered_at"] >= row["processed_at"]
        assert client.get(f"/tasks/{task_id}").json()["error"] == "disk on fire"

    # A poison message is not lost either: rejected to the same dead queue, and recorded.
    with broker.api() as api:
        exchange = urllib.parse.quote(Names(settings.queue).exchange, safe="")
        routed = api.post(
            f"/api/exchanges/{urllib.parse.quote(broker.vhost, safe='')}/{exchange}/publish",
            json={
                "properties": {},
                "routing_key": settings.queue,
                "payload": "not a task",
                "payload_encoding": "string",
            },
        )
        assert routed.json() == {"routed": True}
    poison = wait_for(
        lambda: [d for d in dead_letters(settings.db_path) if d[0] is None], "the poison message"
    )
    assert poison == [(None, poison[0][1], "not a task")]
    assert poison[0][1].startswith("invalid message (body is not JSON")
    assert poison[0][1].endswith("; rejected")


def test_a_flaky_task_retries_and_a_hopeless_one_fails_after_max_attempts(
    stack: Stack, settings: Settings
) -> None:
    assert settings.max_attempts == 3
    stack.migrate()
    stack.api()
    stack.consumer()
    with httpx.Client(base_url=stack.api_url()) as client:
        flaky = client.post("/tasks", json={"action": "fail", "data": {"times": 1}}).json()["id"]
        hopeless = client.post("/tasks", json={"action": "fail", "data": {"message": "no"}})
        hopeless_id = hopeless.json()["id"]

        task = wait_final(client, flaky)
        assert task["status"] == "completed"
        assert task["attempts"] == 2
        assert task["result"] == {"output": "succeeded on attempt 2"}
        assert task["error"] is None

        task = wait_final(client, hopeless_id)
        assert task["status"] == "failed"
        assert task["attempts"] == 3
        assert task["error"] == "no"
        letters = wait_for(lambda: dead_letters(settings.db_path), "the dead letter")
        assert [(d[0], d[1]) for d in letters] == [(hopeless_id, "rejected")]

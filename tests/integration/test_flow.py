"""The seed's examples end to end: real API and consumer processes, real broker, real SQLite."""

from __future__ import annotations

import httpx
import orjson
import pytest

from shared.config import Settings
from shared.names import Names
from tests.support.broker import Broker
from tests.support.observe import publish_raw, query, task_row
from tests.support.processes import Stack
from tests.support.waiting import wait_final_task, wait_until

pytestmark = pytest.mark.integration


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
                task = wait_final_task(client, task_id)
                assert task["status"] == "completed"
                assert task["result"] == result
                assert task["attempts"] == 1
                assert task["error"] is None
                assert task["created_at"] <= task["started_at"] <= task["processed_at"]
                listed = client.get("/tasks", params={"status": "completed"}).json()
                assert listed["count"] == done
                assert listed["tasks"][0]["id"] == task_id


def dead_letters(settings: Settings) -> list[tuple[str | None, str, str]]:
    rows = query(settings, "SELECT task_id, reason, body FROM dead_letters ORDER BY id")
    return [(r["task_id"], r["reason"], r["body"]) for r in rows]


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
        task = wait_final_task(client, task_id)
        assert task["status"] == "failed"
        assert task["error"] == "disk on fire"
        assert task["attempts"] == 1
        assert task["result"] is None
        assert task["processed_at"] is not None

        # The rejected message went through <queue>.dlx to <queue>.dead and was recorded.
        (letter,) = wait_until(lambda: dead_letters(settings), 30, "the dead letter")
        assert letter[0] == task_id
        assert letter[1] == "rejected"
        assert orjson.loads(letter[2])["data"] == {"message": "disk on fire"}
        row = task_row(settings, task_id)
        assert row is not None
        assert row["dead_lettered_at"] is not None
        assert row["dead_lettered_at"] >= row["processed_at"]
        assert client.get(f"/tasks/{task_id}").json()["error"] == "disk on fire"

    # A poison message is not lost either: rejected to the same dead queue, and recorded.
    publish_raw(broker, Names(settings.queue).exchange, settings.queue, b"not a task")
    poison = wait_until(
        lambda: [d for d in dead_letters(settings) if d[0] is None], 30, "the poison message"
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

        task = wait_final_task(client, flaky)
        assert task["status"] == "completed"
        assert task["attempts"] == 2
        assert task["result"] == {"output": "succeeded on attempt 2"}
        assert task["error"] is None

        task = wait_final_task(client, hopeless_id)
        assert task["status"] == "failed"
        assert task["attempts"] == 3
        assert task["error"] == "no"
        letters = wait_until(lambda: dead_letters(settings), 30, "the dead letter")
        assert [(d[0], d[1]) for d in letters] == [(hopeless_id, "rejected")]

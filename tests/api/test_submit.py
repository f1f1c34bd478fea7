"""POST /tasks: what is accepted (stored, then published with a confirm) and what is refused."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import uuid
from typing import Any

import aio_pika
import orjson
import pytest
from aiohttp.test_utils import TestClient

from shared.config import Settings
from shared.names import HEADER_ATTEMPT
from tests.api.conftest import MakeClient

pytestmark = pytest.mark.integration


def count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])


async def post(client: TestClient, body: Any) -> tuple[int, Any]:
    response = await client.post(
        "/tasks", data=orjson.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.content_type == "application/json"
    return response.status, await response.json()


async def test_accepted_task_is_stored_and_published(
    client: TestClient,
    db: sqlite3.Connection,
    settings: Settings,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    body = {"action": "uppercase", "data": {"text": "hello world"}}
    response = await client.post("/tasks", json=body)
    assert response.status == 202
    accepted = await response.json()
    task_id = accepted["id"]
    assert accepted == {"id": task_id, "status": "queued"}
    assert uuid.UUID(task_id).version == 7
    assert str(uuid.UUID(task_id)) == task_id
    assert response.headers["Location"] == f"/tasks/{task_id}"

    stored = db.execute("SELECT action, data, status FROM tasks WHERE id = ?", (task_id,))
    assert tuple(stored.fetchone()) == ("uppercase", '{"text":"hello world"}', "queued")

    channel = await amqp.channel()
    queue = await channel.declare_queue(settings.queue, passive=True)
    message = await queue.get(timeout=5)
    assert message is not None
    assert orjson.loads(message.body) == {"id": task_id, **body}
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert message.message_id == task_id
    assert message.headers[HEADER_ATTEMPT] == 0
    await message.ack()


async def test_a_confirmed_task_leaves_the_outbox(
    client: TestClient, db: sqlite3.Connection
) -> None:
    status, accepted = await post(client, {"action": "sum", "data": {"numbers": [1]}})
    assert status == 202
    for _ in range(200):  # marked asynchronously, right after the 202
        (published,) = db.execute(
            "SELECT published FROM tasks WHERE id = ?", (accepted["id"],)
        ).fetchone()
        if published:
            break
        await asyncio.sleep(0.025)
    assert published == 1


VALID: list[dict[str, Any]] = [
    {"action": "uppercase"},
    {"action": "uppercase", "data": None},
    {"action": "x" * 100, "data": {}},
    {"action": "sleep", "data": {"seconds": 300}},
    {"action": "sum", "data": {"numbers": [1, 2.5]}},
    {"action": "fail", "data": {"message": "m", "times": 2}},
    {"action": "résumé ✓", "data": {"nested": {"deep": [1, {"x": None}]}}},
]


async def test_valid_bodies_are_accepted(client: TestClient, subtests) -> None:
    for body in VALID:
        with subtests.test(body=body):
            status, accepted = await post(client, body)
            assert status == 202, accepted
            task = await (await client.get(f"/tasks/{accepted['id']}")).json()
            assert task["action"] == body["action"]
            assert task["data"] == (body.get("data") or {})


async def test_charset_in_the_content_type_is_fine(client: TestClient) -> None:
    response = await client.post(
        "/tasks",
        data=b'{"action": "sum"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 202


# One app serves each table of cases (subtests): opening the broker and the database per case
# would cost more than the cases themselves.
ACTION_REQUIRED = {"error": "action required", "field": "action"}
# the whole body: `field` names the input at fault when there is one
EXACT_ERRORS = [
    (b"{not json", {"error": "invalid JSON"}),
    (b"", {"error": "invalid JSON"}),
    (b'{"action": "sum",}', {"error": "invalid JSON"}),
    (b"{}", ACTION_REQUIRED),
    (b'{"action": ""}', ACTION_REQUIRED),
    (b'{"action": null}', ACTION_REQUIRED),
    (b'{"data": {}}', ACTION_REQUIRED),
    (b'{"action": "sum", "data": []}', {"error": "data must be a JSON object", "field": "data"}),
]


async def test_exact_errors(client: TestClient, db: sqlite3.Connection, subtests) -> None:
    for raw, error in EXACT_ERRORS:
        with subtests.test(body=raw):
            response = await client.post(
                "/tasks", data=raw, headers={"Content-Type": "application/json"}
            )
            assert response.status == 400
            assert await response.json() == error
    assert count(db) == 0


MALFORMED = [
    ([], "must be a JSON object"),
    ("uppercase", "must be a JSON object"),
    (None, "must be a JSON object"),
    (42, "must be a JSON object"),
    ({"action": 5}, "action must be a string"),
    ({"action": ["sum"]}, "action must be a string"),
    ({"action": True}, "action must be a string"),
    ({"action": "x" * 101}, "action must be 1-100 characters"),
    ({"action": "sum", "data": []}, "data must be a JSON object"),
    ({"action": "sum", "data": "numbers"}, "data must be a JSON object"),
    ({"action": "sum", "data": 3}, "data must be a JSON object"),
    ({"action": "sum", "priority": 1}, "priority must be normal or high"),
    ({"action": "sum", "urgency": 1}, "unknown field: urgency"),
    ({"action": "sum", "id": "mine"}, "unknown field: id"),
]


async def test_malformed_bodies_are_400s_that_say_why(
    client: TestClient, db: sqlite3.Connection, subtests
) -> None:
    for body, says in MALFORMED:
        with subtests.test(body=body):
            status, error = await post(client, body)
            assert status == 400
            assert says in error["error"]
    assert count(db) == 0


REFUSED_DATA = [
    ({"action": "sum", "data": {"numbers": [1, "two"]}}, "data.numbers"),
    ({"action": "sum", "data": {"numbers": "1,2"}}, "data.numbers"),
    ({"action": "uppercase", "data": {"text": 3}}, "data.text"),
    ({"action": "sleep", "data": {"seconds": 301}}, "data.seconds"),
    ({"action": "fail", "data": {"times": -1}}, "data.times"),
]


async def test_data_an_action_refuses_is_422(
    client: TestClient, db: sqlite3.Connection, subtests
) -> None:
    for body, field in REFUSED_DATA:
        with subtests.test(body=body):
            status, error = await post(client, body)
            assert status == 422
            assert error["field"] == field
            assert field in error["error"]
    assert count(db) == 0


async def test_a_body_over_one_mebibyte_is_413(client: TestClient, db: sqlite3.Connection) -> None:
    big = orjson.dumps({"action": "uppercase", "data": {"text": "x" * (1024 * 1024)}})
    response = await client.post(
        "/tasks", data=io.BytesIO(big), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert response.content_type == "application/json"
    assert "error" in await response.json()
    assert count(db) == 0


async def test_a_body_just_under_the_limit_is_accepted(client: TestClient) -> None:
    envelope = orjson.dumps({"action": "uppercase", "data": {"text": ""}})
    text = "x" * (1024 * 1024 - len(envelope))
    body = orjson.dumps({"action": "uppercase", "data": {"text": text}})
    assert len(body) == 1024 * 1024
    response = await client.post(
        "/tasks", data=io.BytesIO(body), headers={"Content-Type": "application/json"}
    )
    assert response.status == 202


async def test_other_content_types_are_415(
    client: TestClient, db: sqlite3.Connection, subtests
) -> None:
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"]:
        with subtests.test(content_type=content_type):
            response = await client.post(
                "/tasks", data=b'{"action": "sum"}', headers={"Content-Type": content_type}
            )
            assert response.status == 415
            assert response.content_type == "application/json"
            assert "application/json" in (await response.json())["error"]
    # without a Content-Type, the client says application/octet-stream
    assert (await client.post("/tasks", data=b'{"action": "sum"}')).status == 415
    assert count(db) == 0


async def test_a_refused_request_does_not_fail_its_neighbours(
    make_client: MakeClient, settings: Settings, settings_with
) -> None:
    """Requests stored in one group commit are independent: a reused Idempotency-Key (422)
    must not fail the unrelated submissions that share its transaction."""
    # A long linger puts every request below into one batch.
    client = await make_client(settings_with(settings, commit_linger_ms=200))
    first = await client.post(
        "/tasks", json={"action": "sum", "data": {"numbers": [1]}}, headers={"Idempotency-Key": "k"}
    )
    assert first.status == 202
    reused = client.post(
        "/tasks", json={"action": "sum", "data": {"numbers": [2]}}, headers={"Idempotency-Key": "k"}
    )
    others = [client.post("/tasks", json={"action": "sum"}) for _ in range(5)]
    responses = await asyncio.gather(reused, *others)
    assert [r.status for r in responses] == [422] + [202] * 5
    listing = await (await client.get("/tasks")).json()
    assert listing["count"] == 6

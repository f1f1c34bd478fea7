"""Guarantee 10: bad requests get clear 4xx JSON errors, and poison messages on the queue are
dead-lettered without hurting the consumer."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from shared.config import Settings
from shared.names import Names
from tests.support.broker import Broker
from tests.support.observe import consumer_metric, publish_raw, query
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row, wait_until

pytestmark = pytest.mark.integration


def nested(depth: int) -> str:
    return '{"action": "x", "data": {"a": ' + "[" * depth + "]" * depth + "}}"


BAD_BODIES = [
    # (body, content type, expected status)
    (b"", "application/json", 400),
    (b"not json", "application/json", 400),
    (b"\xff\xfe\x00garbage", "application/json", 400),
    (b"[]", "application/json", 400),
    (b'"uppercase"', "application/json", 400),
    (b"null", "application/json", 400),
    (b"{}", "application/json", 400),
    (b'{"action": 123}', "application/json", 400),
    (b'{"action": ["uppercase"]}', "application/json", 400),
    (b'{"action": ""}', "application/json", 400),
    (b'{"action": "   "}', "application/json", 400),
    (json.dumps({"action": "a" * 101}).encode(), "application/json", 400),
    (b'{"action": "uppercase", "data": [1, 2]}', "application/json", 400),
    (b'{"action": "uppercase", "data": "text"}', "application/json", 400),
    (b'{"action": "uppercase", "extra": 1}', "application/json", 400),
    (b'{"action": "uppercase", "data": {"text": 5}}', "application/json", 422),
    (b'{"action": "sum", "data": {"numbers": ["1", 2]}}', "application/json", 422),
    (b'{"action": "sum", "data": {"numbers": [true]}}', "application/json", 422),
    (b'{"action": "sleep", "data": {"seconds": -1}}', "application/json", 422),
    (b'{"action": "sleep", "data": {"seconds": 1e9}}', "application/json", 422),
    (b'{"action": "fail", "data": {"times": 1.5}}', "application/json", 422),
    (nested(100_000).encode(), "application/json", 400),
    (nested(2000).encode(), "application/json", 400),
    (nested(600).encode(), "application/json", 400),
    (nested(253).encode(), "application/json", 400),  # parses, but too deep for the queue
    (b'{"action": "uppercase"}', "text/plain", 415),
    (b'{"action": "uppercase"}', "application/x-www-form-urlencoded", 415),
    (b"x" * (1024 * 1024 + 1), "application/json", 413),
]


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (status, response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]


@pytest.fixture
def api(stack: Stack, client: httpx.Client) -> httpx.Client:
    stack.migrate()
    stack.api()
    return client


def test_bad_bodies_are_refused_with_json_errors(api: httpx.Client, settings: Settings) -> None:
    for body, content_type, status in BAD_BODIES:
        response = api.post("/tasks", content=body, headers={"Content-Type": content_type})
        assert_error(response, status)
    assert query(settings, "SELECT id FROM tasks") == []


def test_deep_but_allowed_data_runs(api: httpx.Client, stack: Stack, settings: Settings) -> None:
    stack.consumer()
    response = api.post("/tasks", content=nested(200), headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    row = wait_final_row(settings, response.json()["id"])
    assert row["status"] == "completed"
    assert json.loads(row["data"]) == json.loads(nested(200))["data"]


def test_bad_urls_methods_and_parameters(api: httpx.Client) -> None:
    cases = [
        ("GET", "/tasks?foo=1", 400),
        ("GET", "/tasks?status=bogus", 400),
        ("GET", "/tasks?limit=0", 400),
        ("GET", "/tasks?limit=abc", 400),
        ("GET", "/tasks?limit=100000", 400),
        ("GET", "/tasks?cursor=%%%", 400),
        ("GET", "/tasks?cursor=bm90LWEtY3Vyc29y", 400),
        ("GET", "/tasks/not-a-uuid", 400),
        ("GET", f"/tasks/{str(uuid.uuid4()).upper()}", 400),
        ("GET", f"/tasks/{uuid.uuid4()}", 404),
        ("POST", "/tasks/retry?status=failed&bogus=1", 400),
        ("DELETE", "/tasks", 405),
        ("PUT", "/tasks", 405),
        ("PATCH", f"/tasks/{uuid.uuid4()}", 405),
        ("GET", "/tasks/retry", 400),  # read as GET /tasks/{id} with id "retry"
        ("GET", "/nowhere", 404),
    ]
    for method, url, status in cases:
        assert_error(api.request(method, url), status)
    assert "POST" in api.delete("/tasks").headers["Allow"]


def test_bad_idempotency_keys(api: httpx.Client) -> None:
    for key in ("", "k" * 201, "tab\there"):
        response = api.post(
            "/tasks", json={"action": "uppercase"}, headers={"Idempotency-Key": key}
        )
        assert_error(response, 400)


POISON = [
    b"not json at all",
    b"\x00\x01\x02\xff",
    b"[1, 2, 3]",
    b'"a string"',
    b"{}",
    b'{"id": "x", "action": "uppercase", "data": {}}',
    b'{"id": 5, "action": "uppercase", "data": {}}',
    json.dumps({"id": str(uuid.uuid4()), "action": "", "data": {}}).encode(),
    json.dumps({"id": str(uuid.uuid4()), "action": "uppercase", "data": []}).encode(),
    json.dumps({"id": str(uuid.uuid4()), "action": "uppercase", "data": {}, "x": 1}).encode(),
]


def test_poison_messages_are_dead_lettered_and_the_consumer_carries_on(
    stack: Stack, settings: Settings, broker: Broker, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    consumer = stack.consumer()
    names = Names(settings.queue)
    for body in POISON:
        publish_raw(broker, names.exchange, names.routing_key, body)

    def recorded() -> list:
        rows = query(settings, "SELECT task_id, reason, body FROM dead_letters")
        return rows if len(rows) >= len(POISON) else []

    rows = wait_until(recorded, 30, "every poison message to reach dead_letters")
    assert len(rows) == len(POISON)
    assert all(r["task_id"] is None for r in rows)
    assert all(r["reason"].startswith("invalid message") for r in rows), [r["reason"] for r in rows]
    kept = {r["body"] for r in rows}
    assert {b.decode("utf-8", errors="replace") for b in POISON} == kept
    assert consumer_metric(settings, "taskq_poison_messages_total") == len(POISON)

    assert consumer.proc.poll() is None
    assert httpx.get(f"http://127.0.0.1:{settings.consumer_port}/healthz").status_code == 200
    task_id = client.post("/tasks", json={"action": "uppercase", "data": {"text": "ok"}}).json()[
        "id"
    ]
    assert wait_final_row(settings, task_id)["status"] == "completed"

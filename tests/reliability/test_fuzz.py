"""Guarantee 12, by property: no request body makes the API answer 5xx, and every message on the
work queue, however malformed, is accounted for without hurting the consumer."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shared.actions import registry
from shared.config import Settings
from shared.names import Names
from tests.support.broker import Broker
from tests.support.observe import consumer_metric, publish_raw, query
from tests.support.processes import Stack
from tests.support.rows import plant_into
from tests.support.waiting import wait_final_row, wait_row, wait_until

pytestmark = pytest.mark.integration

FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis folder in the shared tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
actions = st.sampled_from([*registry.names(), "x", "", " "]) | st.text(max_size=120)
# shaped like a submission, with every field allowed to be wrong
submissions = st.fixed_dictionaries(
    {"action": actions | json_values},
    optional={
        "data": st.dictionaries(st.text(max_size=8), json_values, max_size=4) | json_values,
        "extra": json_values,
    },
)


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


request_bodies = submissions.map(encode) | json_values.map(encode) | st.binary(max_size=300)


@pytest.mark.parametrize("with_key", [False, True])
def test_no_request_body_gets_a_5xx(stack: Stack, client: httpx.Client, with_key: bool) -> None:
    stack.migrate()
    stack.api()
    answered: dict[int, int] = {}

    @FUZZ
    @given(
        body=request_bodies,
        # (HTTP itself trims a header value's edges, so the key is generated without them)
        key=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=210).map(
            str.strip
        ),
    )
    @example(body=b'{"action": "uppercase", "data": {"text": "a"}}', key="fuzz-key")
    @example(body=b"not json", key="fuzz-key")
    def post(body: bytes, key: str) -> None:
        headers = {"Content-Type": "application/json"}
        if with_key:
            headers["Idempotency-Key"] = key
        response = client.post("/tasks", content=body, headers=headers)
        answered[response.status_code] = answered.get(response.status_code, 0) + 1
        assert response.status_code < 500, (body, response.status_code, response.text)
        payload = response.json()
        if response.status_code == 202:
            assert set(payload) == {"id", "status"}
        else:
            assert 400 <= response.status_code < 500
            assert isinstance(payload["error"], str) and payload["error"]

    post()
    # 409: a repeated key whose first request was not confirmed yet
    assert set(answered) <= {202, 400, 409, 422}, answered
    assert 202 in answered and 400 in answered, answered


def test_no_listing_query_gets_a_5xx(stack: Stack, client: httpx.Client) -> None:
    stack.migrate()
    stack.api()

    @FUZZ
    @given(
        params=st.dictionaries(
            st.sampled_from(["status", "action", "limit", "cursor", "other"]),
            st.text(max_size=40),
            max_size=4,
        )
    )
    def get(params: dict[str, str]) -> None:
        response = client.get("/tasks", params=params)
        assert response.status_code in (200, 400), (params, response.status_code, response.text)
        if response.status_code == 400:
            assert response.json()["error"]

    get()


# --- queue messages -------------------------------------------------------------------------

# What a planted task's row holds (valid, as the API would have stored it) and how it ends.
PLANTED = [
    ("uppercase", {"text": "fuzz"}, "completed"),
    ("sum", {"numbers": [1, 2.5]}, "completed"),
    ("anything", {"k": [1, None]}, "completed"),
    ("fail", {"times": 1}, "completed"),
    ("fail", {}, "failed"),
]

envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["<planted>", "<unknown>"]) | json_values,
        "action": actions | json_values,
        "data": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
        "extra": json_values,
    },
)
valid_envelopes = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["<planted>", "<unknown>"]),
        "action": st.text(min_size=1, max_size=30),
        "data": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    }
)
messages = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=300)),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("envelope"), envelope_like),
    st.tuples(st.just("envelope"), valid_envelopes),
    st.tuples(st.just("envelope"), valid_envelopes),
)


def is_valid_envelope(value: Any) -> bool:
    """The contract of a work-queue message, written independently of the consumer's decoder."""
    if not isinstance(value, dict) or not set(value) <= {"id", "action", "data"}:
        return False
    task_id, action, data = value.get("id"), value.get("action"), value.get("data")
    if not isinstance(task_id, str):
        return False
    try:
        canonical = str(uuid.UUID(task_id)) == task_id
    except ValueError:
        canonical = False
    return canonical and isinstance(action, str) and action != "" and isinstance(data, dict)


def plant(settings: Settings, action: str, data: dict) -> str:
    """A queued row the outbox will not resend (published=1): only the fuzzed message runs it."""
    return plant_into(settings.db_path, action=action, data=json.dumps(data))


QUEUE_FUZZ = hypothesis_settings(FUZZ, max_examples=80)


def test_every_queue_message_is_accounted_for(
    stack: Stack, settings: Settings, broker: Broker
) -> None:
    names = Names(settings.queue)
    stack.migrate()
    stack.api()
    consumer = stack.consumer()
    # what has happened so far; each message must add exactly one to exactly one of these
    tally = {"poison": 0, "unknown": 0, "completed": 0, "failed": 0}

    def poison_recorded() -> int:
        return len(query(settings, "SELECT id FROM dead_letters WHERE task_id IS NULL"))

    def unknown_skipped() -> float:
        return consumer_metric(settings, "taskq_deliveries_skipped_total", why="unknown")

    @QUEUE_FUZZ
    @given(message=messages, planted=st.sampled_from(PLANTED))
    # every fate at least once, whatever the draw
    @example(message=("bytes", b"\xff not json"), planted=PLANTED[0])
    @example(
        message=("envelope", {"id": "<unknown>", "action": "x", "data": {}}), planted=PLANTED[0]
    )
    @example(
        message=("envelope", {"id": "<planted>", "action": "x", "data": {}}), planted=PLANTED[0]
    )
    @example(
        message=("envelope", {"id": "<planted>", "action": "x", "data": {}}), planted=PLANTED[-1]
    )
    def deliver(message: tuple[str, Any], planted: tuple[str, dict, str]) -> None:
        kind, value = message
        task_id = None
        if kind == "bytes":
            body = value
            try:
                valid = is_valid_envelope(json.loads(value))
            except ValueError:
                valid = False
        else:
            if kind == "envelope" and value.get("id") == "<planted>":
                task_id = plant(settings, planted[0], planted[1])
                value = {**value, "id": task_id}
            elif kind == "envelope" and value.get("id") == "<unknown>":
                value = {**value, "id": str(uuid.uuid4())}
            body = encode(value)
            valid = is_valid_envelope(value)

        publish_raw(broker, names.exchange, names.routing_key, body, api=management)

        if not valid:
            tally["poison"] += 1
            wait_until(
                lambda: poison_recorded() == tally["poison"],
                30,
                f"poison {body[:80]!r} to be recorded",
                every=0.01,
            )
            row = query(settings, "SELECT * FROM dead_letters ORDER BY id DESC LIMIT 1")[0]
            assert row["task_id"] is None
            assert row["reason"].startswith("invalid message")
            assert row["body"] == body[:4096].decode("utf-8", errors="replace")
        elif task_id is not None:
            row = wait_final_row(settings, task_id)
            assert row["status"] == planted[2], dict(row)
            if row["status"] == "failed":
                wait_row(
                    settings,
                    task_id,
                    lambda row: row["dead_lettered_at"],
                    "the failed task's dead letter",
                    every=0.01,
                )
            tally[row["status"]] += 1
        else:
            tally["unknown"] += 1
            wait_until(
                lambda: unknown_skipped() == tally["unknown"],
                30,
                "the unknown task's message to be skipped",
                every=0.01,
            )
        assert consumer.proc.poll() is None, consumer.log()

    with broker.api() as management:
        deliver()
    print("queue fuzz:", tally)
    assert all(tally.values()), tally
    dead = query(settings, "SELECT task_id FROM dead_letters")
    assert sum(1 for d in dead if d["task_id"] is None) == tally["poison"]
    assert sum(1 for d in dead if d["task_id"] is not None) == tally["failed"]
    assert consumer_metric(settings, "taskq_poison_messages_total") == tally["poison"]
    assert unknown_skipped() == tally["unknown"]
    assert httpx.get(f"http://127.0.0.1:{settings.consumer_port}/healthz").status_code == 200
    assert consumer.proc.poll() is None

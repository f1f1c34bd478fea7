"""The envelope on the queue, the task as JSON, and timestamps on the wire."""

from __future__ import annotations

import re
import uuid

import orjson
import pytest

from shared.clock import now_ms, to_rfc3339
from shared.errors import InvalidMessageError
from shared.models import Envelope, is_uuid, new_task_id, task_json

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TASK_ID = "0b7e4a5e-6a47-4c55-9c1a-4f3f2f5cbd11"


def test_envelope_round_trip() -> None:
    envelope = Envelope(TASK_ID, "sum", {"numbers": [1, 2]})
    assert orjson.loads(envelope.encode()) == {
        "id": TASK_ID,
        "action": "sum",
        "data": {"numbers": [1, 2]},
    }
    assert Envelope.decode(envelope.encode()) == envelope


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"id": "x", "action": "a", "data": {}}', "not a UUID"),
        (b'{"action": "a", "data": {}}', "not a UUID"),
        (f'{{"id": "{TASK_ID.upper()}", "action": "a", "data": {{}}}}'.encode(), "not a UUID"),
        (f'{{"id": "{TASK_ID}", "action": "", "data": {{}}}}'.encode(), "action"),
        (f'{{"id": "{TASK_ID}", "action": 3, "data": {{}}}}'.encode(), "action"),
        (f'{{"id": "{TASK_ID}", "action": "a", "data": []}}'.encode(), "data"),
        (f'{{"id": "{TASK_ID}", "action": "a"}}'.encode(), "data"),
        (f'{{"id": "{TASK_ID}", "action": "a", "data": {{}}, "x": 1}}'.encode(), "unknown"),
    ],
)
def test_poison_bodies_say_what_is_wrong(body: bytes, complaint: str) -> None:
    with pytest.raises(InvalidMessageError, match=complaint):
        Envelope.decode(body)


def test_task_ids() -> None:
    task_id = new_task_id()
    assert uuid.UUID(task_id).version == 7
    # time-ordered: each new row goes to the end of the primary-key index
    later = [new_task_id() for _ in range(1000)]
    assert [task_id, *later] == sorted([task_id, *later])
    assert len(set(later)) == len(later)
    assert is_uuid(task_id)
    assert not is_uuid(task_id.upper())
    assert not is_uuid(task_id.replace("-", ""))
    assert not is_uuid("nope")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (1_700_000_000_007, "2023-11-14T22:13:20.007Z"),
        (None, None),
    ],
)
def test_rfc3339(ms: int | None, text: str | None) -> None:
    assert to_rfc3339(ms) == text


def test_now_is_rfc3339_with_milliseconds() -> None:
    assert RFC3339_MS.match(to_rfc3339(now_ms()) or "")


def test_task_json() -> None:
    row = (
        TASK_ID,
        "sum",
        '{"numbers":[1,2]}',
        "completed",
        '{"output":3}',
        None,
        1,
        1_700_000_000_000,
        1_700_000_000_010,
        1_700_000_000_020,
        1_699_999_999_000,
        30.0,
        "nightly",
        "high",
        0.5,
        "half way",
        1_700_000_000_015,
    )
    assert orjson.loads(orjson.dumps(task_json(row))) == {
        "id": TASK_ID,
        "action": "sum",
        "data": {"numbers": [1, 2]},
        "status": "completed",
        "result": {"output": 3},
        "error": None,
        "attempts": 1,
        "created_at": "2023-11-14T22:13:20.000Z",
        "started_at": "2023-11-14T22:13:20.010Z",
        "processed_at": "2023-11-14T22:13:20.020Z",
        "run_at": "2023-11-14T22:13:19.000Z",
        "timeout_s": 30.0,
        "schedule": "nightly",
        "priority": "high",
        "progress": {
            "fraction": 0.5,
            "message": "half way",
            "updated_at": "2023-11-14T22:13:20.015Z",
        },
    }


def test_task_json_of_a_queued_task() -> None:
    row = (
        TASK_ID,
        "a",
        "{}",
        "queued",
        None,
        None,
        0,
        5,
        None,
        None,
        None,
        None,
        None,
        "normal",
        None,
        None,
        None,
    )
    shown = orjson.loads(orjson.dumps(task_json(row)))
    assert shown["result"] is None
    assert shown["started_at"] is None
    assert shown["processed_at"] is None
    assert shown["data"] == {}
    assert shown["run_at"] is None and shown["schedule"] is None
    assert shown["progress"] is None

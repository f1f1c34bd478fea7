"""What a request may say: the task body, the listing's query parameters, the idempotency key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from services.api.queries import BadCursor, Position
from services.api.timing import Timing, parse_timing
from shared.actions import registry
from shared.clock import now_ms
from shared.errors import ValidationError
from shared.models import is_uuid
from shared.names import Priority, Status

MAX_ACTION_LENGTH = 100
MAX_KEY_LENGTH = 200
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Submission:
    action: str
    data: dict[str, Any]
    data_json: str
    timing: Timing
    priority: Priority = Priority.NORMAL


SUBMISSION_FIELDS = frozenset({"action", "data", "delay_s", "run_at", "timeout_s", "priority"})


def parse_json(body: bytes) -> object:
    """A request body as JSON; ValidationError (400) when it is not."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("invalid JSON") from exc


def checked_object(payload: object, fields: frozenset[str]) -> dict[str, Any]:
    """`payload` as a JSON object with none but `fields` (ValidationError names the first
    unknown one)."""
    if not isinstance(payload, dict):
        raise ValidationError("the body must be a JSON object")
    unknown = sorted(set(payload) - fields)
    if unknown:
        raise ValidationError(f"unknown field: {unknown[0]}", unknown[0])
    return payload


def parse_submission(body: bytes, timeout_limit_s: float = math.inf) -> Submission:
    """Parse and check a POST /tasks body; ValidationError says what is wrong (400), and
    ActionDataError what the action refuses (422)."""
    return parse_task(parse_json(body), timeout_limit_s)


def parse_action(action: object) -> str:
    """The action of a task or a schedule as submitted: a name of 1-100 characters."""
    if action is None or action == "":
        raise ValidationError("action required", "action")
    if not isinstance(action, str):
        raise ValidationError("action must be a string", "action")
    if len(action) > MAX_ACTION_LENGTH or not action.strip():
        raise ValidationError(
            f"action must be 1-{MAX_ACTION_LENGTH} characters, not blank", "action"
        )
    return action


def action_filter(query: Mapping[str, str]) -> str | None:
    """The `action` query parameter of a listing or a bulk operation (absent or empty: all)."""
    action = query.get("action") or None
    if action is not None and len(action) > MAX_ACTION_LENGTH:
        raise ValidationError(f"action must be 1-{MAX_ACTION_LENGTH} characters", "action")
    return action


def parse_task(payload: object, timeout_limit_s: float = math.inf) -> Submission:
    """Check one task as submitted (alone, or as an item of a batch)."""
    payload = checked_object(payload, SUBMISSION_FIELDS)
    action = parse_action(payload.get("action"))
    data = payload.get("data", {})
    if data is None:
        data = {}
    data_json = check_data(action, data)
    priority = _priority(payload.get("priority"))
    timing = parse_timing(payload, now_ms(), timeout_limit_s)
    return Submission(action, data, data_json, timing, priority)


def check_data(action: str, data: object) -> str:
    """`data` as JSON text, once it is an object the action accepts (ValidationError if not)."""
    if not isinstance(data, dict):
        raise ValidationError("data must be a JSON object", "data")
    registry.validate(action, data)
    try:
        # Encoded one level down, as the queue message nests it: orjson refuses deep nesting,
        # and data that fits here must fit there too.
        return orjson.dumps([data])[1:-1].decode()
    except orjson.JSONEncodeError as exc:
        raise ValidationError("data is nested too deeply", "data") from exc


def _priority(raw: object) -> Priority:
    if raw is None:
        return Priority.NORMAL
    if not isinstance(raw, str) or raw not in {p.value for p in Priority}:
        allowed = " or ".join(p.value for p in Priority)
        raise ValidationError(f"priority must be {allowed}", "priority")
    return Priority(raw)


@dataclass(frozen=True, slots=True)
class ListQuery:
    status: Status | None
    action: str | None
    limit: int
    after: Position | None
    priority: Priority | None = None


LIST_PARAMETERS = frozenset({"status", "action", "priority", "limit", "cursor"})


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Check GET /tasks parameters; unknown names and bad values are 400s."""
    unknown = sorted(set(query) - LIST_PARAMETERS)
    if unknown:
        raise ValidationError(f"unknown query parameter: {unknown[0]}", unknown[0])
    status = _status(query.get("status"))
    action = action_filter(query)
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if (
            not raw_limit.isascii()
            or not raw_limit.isdigit()
            or not 1 <= int(raw_limit) <= MAX_LIMIT
        ):
            raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}", "limit")
        limit = int(raw_limit)
    after = None
    if query.get("cursor"):
        try:
            after = Position.decode(query["cursor"])
        except BadCursor as exc:
            raise ValidationError(
                "cursor is not valid: use next_cursor from a listing", "cursor"
            ) from exc
    priority = _priority(query.get("priority")) if query.get("priority") else None
    return ListQuery(status, action, limit, after, priority)


def _status(raw: str | None) -> Status | None:
    if raw is None or raw == "":
        return None
    try:
        return Status(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise ValidationError(f"status must be one of {allowed}", "status") from None


def parse_retry_query(query: Mapping[str, str]) -> str | None:
    """POST /tasks/retry takes status=failed (the only status that can be replayed) and action."""
    unknown = sorted(set(query) - {"status", "action"})
    if unknown:
        raise ValidationError(f"unknown query parameter: {unknown[0]}", unknown[0])
    if query.get("status", "failed") != "failed":
        raise ValidationError("only failed tasks can be retried: use status=failed", "status")
    action = action_filter(query)
    return action


def parse_task_id(raw: str) -> str:
    """A task id in a path: the canonical UUID form, or 400."""
    if not is_uuid(raw):
        raise ValidationError("task id must be a UUID", "id")
    return raw


def parse_idempotency_key(raw: str | None) -> str | None:
    """The Idempotency-Key header: printable ASCII, at most 200 characters."""
    if raw is None:
        return None
    if not raw or len(raw) > MAX_KEY_LENGTH or not raw.isascii() or not raw.isprintable():
        raise ValidationError(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
            "Idempotency-Key",
        )
    return raw

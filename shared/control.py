"""What the API broadcasts to every consumer process on the control exchange."""

from __future__ import annotations

import orjson

from shared.errors import InvalidMessageError
from shared.models import is_uuid


def encode_cancel(task_ids: list[str]) -> bytes:
    """Ask whichever consumer runs one of these tasks to stop it."""
    return orjson.dumps({"cancel": task_ids})


def decode_cancel(body: bytes) -> list[str]:
    """The task ids a control message asks to cancel; InvalidMessageError if it is not one."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessageError(f"control message is not JSON: {exc}") from exc
    ids = raw.get("cancel") if isinstance(raw, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and is_uuid(i) for i in ids):
        raise InvalidMessageError('a control message is {"cancel": [task ids]}')
    return ids

"""Timestamps: integer milliseconds in SQLite, RFC 3339 UTC with milliseconds on the wire."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def to_rfc3339(ms: int | None) -> str | None:
    """`1700000000123` → `2023-11-14T22:13:20.123Z`; None stays None."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"

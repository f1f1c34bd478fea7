"""Why the broker dead-lettered a message, read from its headers."""

from __future__ import annotations

from typing import Any

import pytest

from services.api.deadletters import death_reason


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-death": [{"reason": "rejected", "queue": "tasks", "count": 1}]}, "rejected"),
        ({"x-death": [{"reason": b"delivery_limit"}]}, "delivery_limit"),
        # the newest death comes first
        ({"x-death": [{"reason": "expired"}, {"reason": "rejected"}]}, "expired"),
        ({"x-first-death-reason": "maxlen"}, "maxlen"),
        ({"x-first-death-reason": b"rejected"}, "rejected"),
        ({"x-death": [], "x-first-death-reason": "rejected"}, "rejected"),
        ({"x-death": [{"queue": "tasks"}], "x-first-death-reason": "expired"}, "expired"),
        ({"x-death": "garbage"}, "unknown"),
        ({}, "unknown"),
        (None, "unknown"),
    ],
)
def test_death_reason(headers: dict[str, Any] | None, reason: str) -> None:
    assert death_reason(headers) == reason

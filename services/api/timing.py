"""When a submitted task may run and for how long: `delay_s`, `run_at` and `timeout_s`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from numbers import Real
from typing import Any

from shared.errors import UnprocessableError, ValidationError

MAX_DELAY_S = 30 * 86400
# The shortest delay or time limit: a millisecond, the resolution of stored times.
MIN_SECONDS = 0.001


@dataclass(frozen=True, slots=True)
class Timing:
    """`run_at` in epoch ms (None: queue it now); `timeout_s` as asked (None: the default)."""

    run_at: int | None = None
    timeout_s: float | None = None


def _number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def parse_rfc3339(raw: object, field: str) -> int:
    """An RFC 3339 timestamp with an offset (`2026-01-01T03:00:00Z`) as epoch milliseconds."""
    if not isinstance(raw, str):
        raise ValidationError(f"{field} must be an RFC 3339 timestamp string", field)
    text, leap = raw.upper(), 0  # RFC 3339 allows a lower-case t and z
    if text[17:19] == "60":  # a leap second: Python has none, so one second after :59
        text, leap = f"{text[:17]}59{text[19:]}", 1000
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field} must be an RFC 3339 timestamp", field) from None
    if moment.tzinfo is None:
        raise ValidationError(f"{field} needs a time zone offset (Z or +01:00)", field)
    return round(moment.timestamp() * 1000) + leap


def parse_timeout(raw: object, limit_s: float) -> float | None:
    """`timeout_s`: a positive number of seconds no larger than the consumers' limit."""
    if raw is None:
        return None
    if not _number(raw):
        raise ValidationError("timeout_s must be a number of seconds", "timeout_s")
    assert isinstance(raw, Real)
    value = float(raw)
    if value < MIN_SECONDS:
        raise ValidationError(f"timeout_s must be at least {MIN_SECONDS}", "timeout_s")
    if value > limit_s:
        # The broker would close the consumer's channel before the limit: see the README.
        raise UnprocessableError(
            f"timeout_s must be at most {limit_s:g} s (TASKQ_CONSUMER_TIMEOUT_S)", "timeout_s"
        )
    return value


def parse_timing(payload: dict[str, Any], now: int, timeout_limit_s: float) -> Timing:
    """The timing fields of a POST /tasks body; a run time in the past means now."""
    delay, at = payload.get("delay_s"), payload.get("run_at")
    if delay is not None and at is not None:
        raise UnprocessableError("give delay_s or run_at, not both", "delay_s")
    run_at: int | None = None
    if delay is not None:
        if not _number(delay):
            raise ValidationError("delay_s must be a number of seconds", "delay_s")
        assert isinstance(delay, Real)
        if not MIN_SECONDS <= float(delay) <= MAX_DELAY_S:
            raise UnprocessableError(
                f"delay_s must be from {MIN_SECONDS} to {MAX_DELAY_S} (30 days)", "delay_s"
            )
        run_at = now + round(float(delay) * 1000)
    elif at is not None:
        run_at = parse_rfc3339(at, "run_at")
        if run_at - now > MAX_DELAY_S * 1000:
            raise UnprocessableError("run_at must be at most 30 days ahead", "run_at")
        if run_at <= now:
            run_at = None
    return Timing(run_at, parse_timeout(payload.get("timeout_s"), timeout_limit_s))

"""Recurring schedules as requested: the body of POST and PATCH /schedules, and when a schedule
fires next. Cron expressions are cronsim's (daylight-saving correct), zones are zoneinfo's."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from numbers import Real
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from services.api.timing import parse_timeout
from services.api.validation import check_data, checked_object, parse_action, parse_json
from shared.errors import UnprocessableError, ValidationError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_EVERY_S = 366 * 86400
CREATE_FIELDS = frozenset(
    {"name", "action", "data", "cron", "timezone", "every_s", "timeout_s", "enabled"}
)
PATCH_FIELDS = CREATE_FIELDS - {"name", "action"}


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A schedule's definition, as stored in the `schedules` table."""

    name: str
    action: str
    data_json: str
    cron: str | None = None
    timezone: str | None = None
    every_s: float | None = None
    timeout_s: float | None = None
    enabled: bool = True

    def next_after(self, after_ms: int) -> int:
        """The first fire time strictly after `after_ms` (epoch ms)."""
        if self.every_s is not None:
            return after_ms + max(1, round(self.every_s * 1000))
        assert self.cron is not None
        zone = ZoneInfo(self.timezone or "UTC")
        start = datetime.fromtimestamp(after_ms / 1000, tz=UTC).astimezone(zone)
        return round(next(CronSim(self.cron, start)).timestamp() * 1000)

    def next_due(self, fired_at: int, now: int) -> int:
        """After firing for `fired_at`, the next fire time after `now`: a schedule that missed
        several times (the API was down) fires once for all of them, not once for each."""
        if self.every_s is not None:
            step = max(1, round(self.every_s * 1000))
            return fired_at + step * (max(0, now - fired_at) // step + 1)
        return self.next_after(max(fired_at, now))


def name_ok(name: str) -> bool:
    """1-100 letters, digits, `.`, `_` or `-`, starting with a letter or digit."""
    return NAME.fullmatch(name) is not None


def _data_json(action: str, data: object) -> str:
    return check_data(action, {} if data is None else data)


def _check_when(spec: Recurrence) -> Recurrence:
    """Exactly one of cron and every_s; a cron expression and zone that parse."""
    if (spec.cron is None) == (spec.every_s is None):
        raise UnprocessableError("give exactly one of cron and every_s", "cron")
    if spec.every_s is not None:
        if spec.timezone is not None:
            raise UnprocessableError("timezone goes with cron, not every_s", "timezone")
        return spec
    zone = spec.timezone or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a path-like key is a ValueError/OSError
        raise UnprocessableError(f"unknown time zone {zone!r}", "timezone") from None
    try:
        CronSim(spec.cron or "", datetime.now(UTC))
    except CronSimError as exc:
        raise UnprocessableError(f"bad cron expression: {exc}", "cron") from None
    return replace(spec, timezone=zone)


def _every(raw: object) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, Real) or isinstance(raw, bool) or not math.isfinite(raw):
        raise ValidationError("every_s must be a number of seconds", "every_s")
    if not 1 <= float(raw) <= MAX_EVERY_S:
        raise UnprocessableError(f"every_s must be from 1 to {MAX_EVERY_S}", "every_s")
    return float(raw)


def _text(raw: object, field: str) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise ValidationError(f"{field} must be a string", field)
    return raw


def _enabled(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise ValidationError("enabled must be true or false", "enabled")
    return raw


def parse_create(body: bytes, timeout_limit_s: float) -> Recurrence:
    """A POST /schedules body; 400 for what is malformed, 422 for a bad cron or zone."""
    payload = checked_object(parse_json(body), CREATE_FIELDS)
    name = payload.get("name")
    if not isinstance(name, str) or not name_ok(name):
        raise ValidationError("name must be 1-100 letters, digits, '.', '_' or '-'", "name")
    action = parse_action(payload.get("action"))
    spec = Recurrence(
        name=name,
        action=action,
        data_json=_data_json(action, payload.get("data")),
        cron=_text(payload.get("cron"), "cron"),
        timezone=_text(payload.get("timezone"), "timezone"),
        every_s=_every(payload.get("every_s")),
        timeout_s=parse_timeout(payload.get("timeout_s"), timeout_limit_s),
        enabled=_enabled(payload.get("enabled", True)),
    )
    return _check_when(spec)


def parse_patch(body: bytes, current: Recurrence, timeout_limit_s: float) -> Recurrence:
    """A PATCH /schedules/{name} body applied to `current`; giving cron drops every_s and the
    other way round."""
    payload = checked_object(parse_json(body), CREATE_FIELDS)
    unknown = sorted(set(payload) - PATCH_FIELDS)
    if unknown:
        raise ValidationError(f"field cannot be changed: {unknown[0]}", unknown[0])
    spec = current
    if "cron" in payload:
        spec = replace(spec, cron=_text(payload["cron"], "cron"), every_s=None)
        spec = replace(spec, timezone=_text(payload.get("timezone", spec.timezone), "timezone"))
    elif "timezone" in payload:
        spec = replace(spec, timezone=_text(payload["timezone"], "timezone"))
    if "every_s" in payload:
        spec = replace(spec, every_s=_every(payload["every_s"]), cron=None, timezone=None)
    if "data" in payload:
        spec = replace(spec, data_json=_data_json(spec.action, payload["data"]))
    if "timeout_s" in payload:
        spec = replace(spec, timeout_s=parse_timeout(payload["timeout_s"], timeout_limit_s))
    if "enabled" in payload:
        spec = replace(spec, enabled=_enabled(payload["enabled"]))
    return _check_when(spec)

"""Durations typed on the command line: `30s`, `5m`, `1.5h`, `2d`, `250ms`, or bare seconds."""

from __future__ import annotations

import math
import re

import typer

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?")


def seconds(raw: str) -> float:
    """`30s` → 30.0, `5m` → 300.0, `250ms` → 0.25, `90` → 90.0; ValueError for anything else."""
    match = DURATION.fullmatch(raw.strip().lower())
    if match is None:
        raise ValueError(f"not a duration: {raw!r} (try 30s, 5m, 2h, 1d or 250ms)")
    value = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a duration must be more than zero, got {raw!r}")
    return value


def duration_option(raw: str | None, hint: str) -> float | None:
    """A typer option's duration, or a usage error naming the option."""
    if raw is None:
        return None
    try:
        return seconds(raw)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None

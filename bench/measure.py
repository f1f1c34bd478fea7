"""Small measuring helpers: run a measuring subprocess, percentiles, rates from timestamps."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tests.support.processes import ROOT

TIMEOUT_S = 900


def run_json(module: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run `python -m <module> '<spec>'` and return the JSON it writes to the spec's `out` file
    (a file, not stdout: a pipe once handed back only the first 128 KiB of 10,000 latencies)."""
    with tempfile.TemporaryDirectory(prefix="taskq-bench-") as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run(
            [sys.executable, "-m", module, orjson.dumps({**spec, "out": str(out)}).decode()],
            cwd=ROOT,
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{module} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
        result: dict[str, Any] = orjson.loads(out.read_bytes())
    return result


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not len(values):
        return {"p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(np.asarray(values, dtype=float), [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(max(values))}


def steady_rate(stamps_ms: Sequence[int], low: float = 0.1, high: float = 0.9) -> float:
    """Events per second between the `low` and `high` quantiles of their times, which leaves
    out the ramp-up and the tail of a run."""
    ordered = sorted(stamps_ms)
    if len(ordered) < 10:
        return 0.0
    i, j = int(low * len(ordered)), int(high * len(ordered)) - 1
    span_s = (ordered[j] - ordered[i]) / 1000
    return (j - i) / span_s if span_s > 0 else 0.0


def per_second(stamps_ms: Sequence[int], origin_ms: float, bin_s: float = 0.5) -> list[float]:
    """A rate-over-time series: events per second in bins of `bin_s` from `origin_ms`."""
    if not len(stamps_ms):
        return []
    offsets = (np.asarray(stamps_ms, dtype=float) - origin_ms) / 1000
    bins = int(np.ceil(max(offsets.max(), bin_s) / bin_s))
    counts, _ = np.histogram(offsets, bins=bins, range=(0, bins * bin_s))
    return [float(c) / bin_s for c in counts]

"""How big each section is (the full run and the quick one), and which consumer settings the
sections run with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Plan:
    floor_messages: int = 20_000
    floor_in_flight: int = 256
    e2e_tasks: int = 20_000
    concurrency: int = 64
    open_rates: tuple[int, ...] = (500, 1_000, 1_500)
    open_seconds: float = 10.0
    seed_seconds: float = 10.0  # of saturated work per consumer count
    scale_procs: tuple[int, ...] = (1, 2, 4)
    listing_rows: int = 1_000_000
    listing_requests: int = 300
    memory_checkpoints: tuple[int, int] = (10_000, 100_000)
    # delayed tasks due evenly over a window, with the consumers idle
    schedule_tasks: int = 1_000
    schedule_window_s: float = 60.0
    priority_backlog: int = 5_000
    priority_tasks: int = 50
    batch_tasks: int = 50_000
    # the end to end run (e2e_tasks) again on the local three-node cluster, which takes ~30 s to
    # start: the quick run skips it
    cluster: bool = True


FULL = Plan()
QUICK = Plan(
    floor_messages=2_000,
    e2e_tasks=1_000,
    open_rates=(250, 500, 1_000),
    open_seconds=2.0,
    seed_seconds=2.5,
    listing_rows=100_000,
    listing_requests=100,
    memory_checkpoints=(1_000, 5_000),
    schedule_tasks=200,
    schedule_window_s=10.0,
    priority_backlog=1_000,
    priority_tasks=10,
    batch_tasks=5_000,
    cluster=False,
)

# The seed design's consumer: every task sleeps 100 ms, 2 channels x prefetch 5 in flight.
SEED_WORK_DELAY_MS = 100
SEED_CHANNELS = 2
SEED_PREFETCH = 5
# The throughput sections' consumer (TASKQ_CHANNELS and TASKQ_PREFETCH, when set, win): each
# task waits on two round trips to the API through the broker (its claim, then its outcome,
# committed with an fsync). With the seed's ten tasks in flight, few reports share a message and
# a transaction; with 2 x 50 they batch, which costs the API, the consumer and the broker about
# a third less CPU per task.
THROUGHPUT_CHANNELS = 2
THROUGHPUT_PREFETCH = 50
# Let a process finish its after-work (outbox marks, GC) before reading its CPU or RSS.
SETTLE_S = 1.0
# The action and body every benchmark task carries (the floor sends the same message size).
TASK_BODY: dict[str, Any] = {"action": "uppercase", "data": {"text": "hello world"}}


def seed_consumer(work_delay_ms: int = SEED_WORK_DELAY_MS) -> dict[str, str]:
    """The seed's consumer settings, with `work_delay_ms` of simulated work per task."""
    return {
        "TASKQ_CHANNELS": str(SEED_CHANNELS),
        "TASKQ_PREFETCH": str(SEED_PREFETCH),
        "TASKQ_WORK_DELAY_MS": str(work_delay_ms),
    }


def throughput_consumer(environ: Mapping[str, str]) -> dict[str, str]:
    """The throughput sections' consumer settings, no simulated work."""
    return {
        "TASKQ_CHANNELS": environ.get("TASKQ_CHANNELS", str(THROUGHPUT_CHANNELS)),
        "TASKQ_PREFETCH": environ.get("TASKQ_PREFETCH", str(THROUGHPUT_PREFETCH)),
        "TASKQ_WORK_DELAY_MS": "0",
    }

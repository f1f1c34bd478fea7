"""How big each section is: the full run and the quick one."""

from __future__ import annotations

from dataclasses import dataclass


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
)

# The seed design's consumer: every task sleeps 100 ms, 2 channels x prefetch 5 in flight.
SEED_WORK_DELAY_MS = 100
SEED_CHANNELS = 2
SEED_PREFETCH = 5
# The throughput sections' consumer (unless TASKQ_PREFETCH is set): with the seed's prefetch of
# 5, ten tasks in flight each waiting on two fsynced commits (claim, then result) cap one consumer
# near 400 tasks/s whatever the CPU; 2 channels x 50 lets the group commit batch.
THROUGHPUT_PREFETCH = 50
# The action and body every benchmark task carries (the floor sends the same message size).
TASK_BODY = {"action": "uppercase", "data": {"text": "hello world"}}

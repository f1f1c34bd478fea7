"""Sections 9 and 10: the high-priority lane under a backlog, and batch submission.

9 priority: with a backlog of normal tasks queued (seed settings, 100 ms of work each), how
long high-priority tasks submitted afterwards wait to start (started_at - created_at).
10 batch: tasks accepted per second through POST /tasks/batch, 1,000 a request, beside the
broker floor's publish rate of the same run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.measure import percentiles
from bench.plan import TASK_BODY, seed_consumer
from bench.stack import BenchStack

BATCH = 1000
# High tasks are submitted one by one this far apart: a stream of urgent work, not a second
# backlog (the lane's 5 in flight at 100 ms each take 50 a second).
HIGH_SPACING_S = 0.1
BATCH_CLIENTS = 4


def _submit_backlog(client: httpx.Client, count: int) -> None:
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        answer = client.post("/tasks/batch", json={"tasks": [TASK_BODY] * size})
        answer.raise_for_status()


def priority(stack_factory: Any, backlog: int, high: int) -> dict[str, Any]:
    """Start delays of `high` high-priority tasks behind `backlog` normal ones."""
    stack: BenchStack = stack_factory("priority")
    try:
        stack.migrate()
        stack.start_api()
        stack.start_consumers(1, **seed_consumer())
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            _submit_backlog(client, backlog)
            ids = []
            for _ in range(high):
                answer = client.post("/tasks", json={**TASK_BODY, "priority": "high"})
                answer.raise_for_status()
                ids.append(answer.json()["id"])
                time.sleep(HIGH_SPACING_S)
            deadline = time.monotonic() + 120
            while True:
                delays = _start_delays(stack, ids)
                if len(delays) == len(ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            with stack.db() as conn:
                (waiting,) = conn.execute(
                    "SELECT COUNT(*) FROM tasks WHERE priority = 'normal' AND status = 'queued'"
                ).fetchone()
            # the rest of the backlog is of no interest: cancel it rather than wait for it
            client.post("/tasks/cancel", params={"status": "queued"}).raise_for_status()
    finally:
        stack.stop()
    return {
        "backlog": backlog,
        "high_tasks": high,
        "started": len(delays),
        "normal_still_queued": waiting,
        "start_delay_ms": percentiles(delays),
        "latencies_ms": delays,
    }


def _start_delays(stack: BenchStack, ids: list[str]) -> list[float]:
    marks = ", ".join("?" * len(ids))
    with stack.db() as conn:
        rows = conn.execute(
            f"SELECT started_at - created_at FROM tasks WHERE id IN ({marks})"
            " AND started_at IS NOT NULL",
            ids,
        ).fetchall()
    return [float(r[0]) for r in rows]


def batch(stack_factory: Any, tasks: int) -> dict[str, Any]:
    """Tasks accepted per second through batches of BATCH, BATCH_CLIENTS requests at a time."""
    stack: BenchStack = stack_factory("batch")
    try:
        stack.migrate()
        stack.start_api()
        accepted, latencies, elapsed = asyncio.run(_post_batches(stack.url, tasks))
    finally:
        stack.stop()
    return {
        "tasks": tasks,
        "batch": BATCH,
        "clients": BATCH_CLIENTS,
        "accepted": accepted,
        "accepted_per_s": accepted / elapsed,
        "request_ms": percentiles(latencies),
    }


async def _post_batches(url: str, tasks: int) -> tuple[int, list[float], float]:
    body = {"tasks": [TASK_BODY] * BATCH}
    requests = tasks // BATCH
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    latencies: list[float] = []
    accepted = 0

    async def client() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while not queue.empty():
                queue.get_nowait()
                began = time.perf_counter()
                answer = await http.post("/tasks/batch", json=body)
                latencies.append((time.perf_counter() - began) * 1000)
                answer.raise_for_status()
                accepted += answer.json()["count"]

    # one batch first, off the clock: connections and caches warm
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        (await http.post("/tasks/batch", json=body)).raise_for_status()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(BATCH_CLIENTS)))
    return accepted, latencies, time.perf_counter() - started

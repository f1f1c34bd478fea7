"""Section 8: delayed tasks. Schedule N tasks due evenly over a window (consumers idle), then
measure how late each started: its claim (started_at) minus its run_at. None may start early."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx

from bench.measure import percentiles
from bench.plan import TASK_BODY, throughput_consumer
from bench.stack import BenchStack

# Every run_at is at least this far ahead of its POST, so submitting never makes a task late.
LEAD_S = 5.0
SUBMIT_CONCURRENCY = 32


async def _submit(url: str, due_ms: list[int]) -> list[int]:
    """POST one delayed task per due time; return the HTTP statuses."""
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(due: int) -> int:
            run_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(due // 1000))
            body = {**TASK_BODY, "run_at": f"{run_at}.{due % 1000:03d}Z"}
            async with gate:
                return (await client.post("/tasks", json=body)).status_code

        return list(await asyncio.gather(*(one(d) for d in due_ms)))


def schedule_lateness(ctx: Any) -> dict[str, Any]:
    """N tasks due over the window: start lateness p50/p99/max, and how many started early."""
    plan = ctx.plan
    tasks, window_s = plan.schedule_tasks, plan.schedule_window_s
    stack = BenchStack(ctx.space, ctx.workdir, "schedule")
    try:
        stack.migrate()
        stack.start_api()
        stack.start_consumers(1, **throughput_consumer(os.environ))
        since = int(time.time() * 1000)
        first = since + round(LEAD_S * 1000)
        step = window_s * 1000 / tasks
        due = [first + round(i * step) for i in range(tasks)]
        statuses = asyncio.run(_submit(stack.url, due))
        submitted_s = (int(time.time() * 1000) - since) / 1000
        if set(statuses) != {202}:
            raise RuntimeError(f"POST /tasks answered {sorted(set(statuses))}")
        stack.wait_completed(tasks, since, timeout=LEAD_S + window_s + 120)
        with stack.db() as conn:
            rows = conn.execute(
                "SELECT started_at - run_at FROM tasks WHERE created_at >= ? AND run_at IS NOT NULL",
                (since,),
            ).fetchall()
    finally:
        stack.stop()
    lateness = [float(r[0]) for r in rows]
    return {
        "tasks": tasks,
        "window_s": window_s,
        "submit_s": submitted_s,
        "started": len(lateness),
        "early": sum(1 for late in lateness if late < 0),
        "lateness_ms": percentiles(lateness),
        "latencies_ms": lateness,
    }

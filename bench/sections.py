"""The benchmark's sections. Each returns a JSON-able dict of what it measured."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.filler import fill
from bench.measure import per_second, percentiles, run_json, steady_rate
from bench.plan import (
    SEED_CHANNELS,
    SEED_PREFETCH,
    SEED_WORK_DELAY_MS,
    THROUGHPUT_PREFETCH,
    Plan,
)
from bench.sampler import RssSampler, cpu_seconds
from bench.stack import BrokerSpace, Stack
from services.api.queries import Position
from shared.config import Settings

SETTLE_S = 1.0  # let a process finish its after-work (outbox marks, GC) before reading its RSS


@dataclass
class Context:
    plan: Plan
    space: BrokerSpace
    workdir: Path
    sampler: RssSampler


def _throughput_env() -> dict[str, str]:
    return {"TASKQ_PREFETCH": os.environ.get("TASKQ_PREFETCH", str(THROUGHPUT_PREFETCH))}


def _closed(stack: Stack, n: int, concurrency: int) -> dict[str, Any]:
    spec = {"mode": "closed", "url": f"{stack.url}/tasks", "n": n, "concurrency": concurrency}
    return run_json("bench.loadgen", spec)


def _finished(stack: Stack, since_ms: int) -> list[tuple[int, int]]:
    """(created_at, processed_at) of the tasks completed that were created since `since_ms`."""
    with stack.db() as conn:
        return list(
            conn.execute(
                "SELECT created_at, processed_at FROM tasks"
                " WHERE status = 'completed' AND created_at >= ?",
                (since_ms,),
            )
        )


def broker_floor(ctx: Context) -> dict[str, Any]:
    consumer = Settings.from_env(_throughput_env())
    return run_json(
        "bench.floor",
        {
            "amqp_url": ctx.space.amqp_url,
            "queue": ctx.space.queue_name("floor"),
            "messages": ctx.plan.floor_messages,
            "in_flight": ctx.plan.floor_in_flight,
            "prefetch": consumer.channels * consumer.prefetch,
        },
    )


def end_to_end_and_open_loop(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sections 2 and 3 share one stack: N tasks as fast as C clients go, then steady rates."""
    plan = ctx.plan
    stack = Stack(ctx.space, ctx.workdir, "e2e", **_throughput_env())
    try:
        stack.migrate()
        stack.start_api()
        stack.start_consumers(1)
        ctx.sampler.watch(stack.pids)
        since = int(time.time() * 1000)
        cpu_before = cpu_seconds(stack.pids())
        load = _closed(stack, plan.e2e_tasks, plan.concurrency)
        accepted = load["status"].get("202", 0)
        stack.wait_completed(accepted, since)
        time.sleep(SETTLE_S)  # the outbox's last marks
        cpu_after = cpu_seconds(stack.pids())
        rows = _finished(stack, since)
        first_ms = load["first_send"] * 1000
        last_ms = max(p for _, p in rows)
        e2e = {
            "tasks": plan.e2e_tasks,
            "concurrency": plan.concurrency,
            "status": load["status"],
            "completed": len(rows),
            "accepted_per_s": load["accepted_per_s"],
            "completed_per_s": len(rows) / ((last_ms - first_ms) / 1000),
            "latency_ms": percentiles([p - c for c, p in rows]),
            "latencies_ms": [p - c for c, p in rows],
            "accepted_series": per_second([c for c, _ in rows], first_ms),
            "completed_series": per_second([p for _, p in rows], first_ms),
            "consumer": _consumer_settings(stack),
            "cpu_ms_per_task": {
                role: (cpu_after[role] - cpu_before.get(role, 0.0)) * 1000 / max(len(rows), 1)
                for role in cpu_after
            },
        }
        open_loop = {"seconds": plan.open_seconds, "rates": []}
        for rate in plan.open_rates:
            since = int(time.time() * 1000)
            result = run_json(
                "bench.loadgen",
                {
                    "mode": "open",
                    "url": f"{stack.url}/tasks",
                    "rate": rate,
                    "seconds": plan.open_seconds,
                    "connections": plan.concurrency,
                },
            )
            stack.wait_completed(result["status"].get("202", 0), since)
            latencies = result.pop("latencies_ms")
            result["latency_ms"] = percentiles(latencies)
            result["latencies_ms"] = latencies
            open_loop["rates"].append(result)
        return e2e, open_loop
    finally:
        ctx.sampler.watch(dict)
        stack.stop()


def _consumer_settings(stack: Stack) -> dict[str, Any]:
    settings = Settings.from_env(stack.env)
    return {
        "channels": settings.channels,
        "prefetch": settings.prefetch,
        "db_synchronous": settings.db_synchronous,
        "commit_linger_ms": settings.commit_linger_ms,
    }


def seed_and_scale_out(ctx: Context) -> dict[str, Any]:
    """Sections 4 and 5: the seed's 100 ms tasks, with 1, 2 and 4 consumer processes."""
    plan = ctx.plan
    stack = Stack(ctx.space, ctx.workdir, "seed")
    runs = []
    try:
        stack.migrate()
        stack.start_api()
        for procs in plan.scale_procs:
            stack.start_consumers(
                procs,
                TASKQ_WORK_DELAY_MS=str(SEED_WORK_DELAY_MS),
                TASKQ_CHANNELS=str(SEED_CHANNELS),
                TASKQ_PREFETCH=str(SEED_PREFETCH),
            )
            ceiling = procs * SEED_CHANNELS * SEED_PREFETCH * 1000 / SEED_WORK_DELAY_MS
            tasks = round(ceiling * plan.seed_seconds)
            since = int(time.time() * 1000)
            load = _closed(stack, tasks, plan.concurrency)
            stack.wait_completed(load["status"].get("202", 0), since)
            rows = _finished(stack, since)
            runs.append(
                {
                    "procs": procs,
                    "tasks": tasks,
                    "completed": len(rows),
                    "ceiling_per_s": ceiling,
                    "completed_per_s": steady_rate([p for _, p in rows]),
                }
            )
            stack.stop_consumers()
    finally:
        stack.stop()
    one = runs[0]["completed_per_s"] or 1.0
    for run in runs:
        run["ratio"] = run["completed_per_s"] / one
    return {"work_delay_ms": SEED_WORK_DELAY_MS, "runs": runs}


def listing(ctx: Context) -> dict[str, Any]:
    """Section 6: list pages of a big table, the first and one deep behind a cursor."""
    plan = ctx.plan
    stack = Stack(ctx.space, ctx.workdir, "listing")
    try:
        stack.migrate()
        fill_s = fill(str(stack.db_path), plan.listing_rows)
        with stack.db() as conn:
            (completed,) = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status = 'completed'"
            ).fetchone()
            created, task_id = conn.execute(
                "SELECT created_at, id FROM tasks WHERE status = 'completed'"
                " ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
                (int(completed * 0.9),),
            ).fetchone()
            deep_all = conn.execute(
                "SELECT created_at, id FROM tasks ORDER BY created_at DESC, id DESC"
                " LIMIT 1 OFFSET ?",
                (int(plan.listing_rows * 0.9),),
            ).fetchone()
        stack.start_api()
        base = f"{stack.url}/tasks?limit=100"
        urls = {
            "first page (status)": f"{base}&status=completed",
            "deep page (status)": f"{base}&status=completed&cursor={Position(created, task_id).encode()}",
            "first page (all)": base,
            "deep page (all)": f"{base}&cursor={Position(*deep_all).encode()}",
        }
        result = run_json(
            "bench.loadgen", {"mode": "get", "urls": urls, "repeat": plan.listing_requests}
        )
    finally:
        stack.stop()
    pages = {}
    for name, measured in result.items():
        if set(measured["status"]) != {"200"}:
            raise RuntimeError(f"GET {urls[name]} answered {measured['status']}")
        pages[name] = {
            "status": measured["status"],
            "latency_ms": percentiles(measured["latencies_ms"]),
            "latencies_ms": measured["latencies_ms"],
        }
    return {
        "rows": plan.listing_rows,
        "fill_s": fill_s,
        "requests": plan.listing_requests,
        "pages": pages,
    }


def memory(ctx: Context) -> dict[str, Any]:
    """Section 7: RSS after a first batch of tasks and after many more (a leak check)."""
    plan = ctx.plan
    stack = Stack(ctx.space, ctx.workdir, "memory", **_throughput_env())
    first, last = plan.memory_checkpoints
    try:
        stack.migrate()
        stack.start_api()
        stack.start_consumers(1)
        ctx.sampler.watch(stack.pids)
        since = int(time.time() * 1000)
        started = time.time()
        checkpoints = []
        done = 0
        for target in (first, last):
            load = _closed(stack, target - done, plan.concurrency)
            done = target
            stack.wait_completed(target, since)
            time.sleep(SETTLE_S)
            checkpoints.append({"tasks": target, "rss_mib": ctx.sampler.sample()})
            del load
        elapsed = time.time() - started
        with stack.db() as conn:
            (completed,) = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status = 'completed' AND created_at >= ?",
                (since,),
            ).fetchone()
    finally:
        ctx.sampler.watch(dict)
        stack.stop()
    growth = {
        role: checkpoints[1]["rss_mib"][role] / checkpoints[0]["rss_mib"][role] - 1
        for role in checkpoints[0]["rss_mib"]
        if role in checkpoints[1]["rss_mib"]
    }
    return {
        "checkpoints": checkpoints,
        "growth": growth,
        "completed": completed,
        "completed_per_s": completed / elapsed,
    }

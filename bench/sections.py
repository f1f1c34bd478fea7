"""The benchmark's sections but the end-to-end one (bench/e2e.py). Each returns a JSON-able
dict of what it measured."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import control, wrk
from bench.filler import fill
from bench.measure import percentiles, run_json, steady_rate
from bench.plan import (
    SEED_CHANNELS,
    SEED_PREFETCH,
    SEED_WORK_DELAY_MS,
    SETTLE_S,
    Plan,
    seed_consumer,
    throughput_consumer,
)
from bench.sampler import RssSampler, cpu_seconds
from bench.stack import BenchStack, BrokerSpace
from services.api.queries import Position
from shared.config import Settings


@dataclass
class Context:
    plan: Plan
    space: BrokerSpace
    workdir: Path
    sampler: RssSampler
    # the broker's processes on this machine (one, or a cluster's nodes), whose CPU each task is
    # charged; empty for a remote broker
    broker_pids: list[int]


def broker_floor(ctx: Context) -> dict[str, Any]:
    """Section 1: raw aio-pika, publish then consume, with the broker's CPU per message."""
    consumer = Settings.from_env(throughput_consumer(os.environ))
    broker = {"broker": ctx.broker_pids}
    before = cpu_seconds(broker)
    result = run_json(
        "bench.floor",
        {
            "amqp_url": ctx.space.amqp_url,
            "queue": ctx.space.queue_name("floor"),
            "messages": ctx.plan.floor_messages,
            "in_flight": ctx.plan.floor_in_flight,
            "prefetch": consumer.channels * consumer.prefetch,
        },
    )
    used = cpu_seconds(broker)
    if "broker" in used:
        result["broker_cpu_ms_per_message"] = (
            (used["broker"] - before["broker"]) * 1000 / result["messages"]
        )
    return result


def seed_and_scale_out(ctx: Context) -> dict[str, Any]:
    """Sections 4 and 5: the seed's 100 ms tasks, with 1, 2 and 4 consumer processes."""
    plan = ctx.plan
    stack = BenchStack(ctx.space, ctx.workdir, "seed")
    runs = []
    try:
        stack.migrate()
        stack.start_api()
        for procs in plan.scale_procs:
            stack.start_consumers(procs, **seed_consumer())
            ceiling = procs * SEED_CHANNELS * SEED_PREFETCH * 1000 / SEED_WORK_DELAY_MS
            tasks = round(ceiling * plan.seed_seconds)
            since = int(time.time() * 1000)
            load = wrk.post(stack.tasks_url, tasks, plan.concurrency)
            stack.wait_completed(load["status"].get("202", 0), since)
            rows = stack.finished(since)
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
    stack = BenchStack(ctx.space, ctx.workdir, "listing")
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
    stack = BenchStack(ctx.space, ctx.workdir, "memory")
    first, last = plan.memory_checkpoints
    try:
        stack.migrate()
        stack.start_api()
        stack.start_consumers(1, **throughput_consumer(os.environ))
        ctx.sampler.watch(stack.pids)
        since = int(time.time() * 1000)
        started = time.time()
        checkpoints: list[dict[str, Any]] = []
        done = 0
        for target in (first, last):
            wrk.post(stack.tasks_url, target - done, plan.concurrency)
            done = target
            stack.wait_completed(target, since)
            time.sleep(SETTLE_S)
            checkpoints.append({"tasks": target, "rss_mib": ctx.sampler.sample()})
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


def priority(ctx: Context) -> dict[str, Any]:
    """Section 9: high-priority tasks behind a backlog of normal ones (bench/control.py)."""
    return control.priority(
        lambda role: BenchStack(ctx.space, ctx.workdir, role),
        ctx.plan.priority_backlog,
        ctx.plan.priority_tasks,
    )


def batch(ctx: Context) -> dict[str, Any]:
    """Section 10: tasks accepted per second through batches of 1,000 (bench/control.py)."""
    return control.batch(
        lambda role: BenchStack(ctx.space, ctx.workdir, role), ctx.plan.batch_tasks
    )

"""Sections 2 and 3 on one stack. End to end: wrk POSTs N tasks over C connections as fast as
the API answers, once with the seed's consumer settings and once with the throughput settings,
and each run is charged the CPU its API, consumer, broker and wrk used. Open loop: POST latency
at steady offered rates, with the throughput consumer running."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import wrk
from bench.measure import per_second, percentiles, run_json
from bench.plan import SETTLE_S, seed_consumer, throughput_consumer
from bench.sampler import children_cpu_s, cpu_seconds
from bench.sections import Context
from bench.stack import BenchStack
from shared.config import Settings


def consumers() -> dict[str, dict[str, str]]:
    """The end-to-end runs in order: their names and consumer settings (no simulated work)."""
    return {"seed": seed_consumer(0), "throughput": throughput_consumer(os.environ)}


def _cpu_pids(ctx: Context, stack: BenchStack) -> dict[str, list[int]]:
    return {**stack.pids(), "broker": ctx.broker_pids}


def _settings(env: dict[str, str]) -> dict[str, Any]:
    settings = Settings.from_env(env)
    return {
        "channels": settings.channels,
        "prefetch": settings.prefetch,
        "work_delay_ms": settings.work_delay_ms,
    }


def run_end_to_end(ctx: Context, stack: BenchStack, consumer: dict[str, str]) -> dict[str, Any]:
    """One end-to-end run against a fresh consumer with `consumer` settings."""
    plan = ctx.plan
    stack.start_consumers(1, **consumer)
    try:
        since = int(time.time() * 1000)
        cpu_before = cpu_seconds(_cpu_pids(ctx, stack))
        load = wrk.post(stack.tasks_url, plan.e2e_tasks, plan.concurrency)
        stack.wait_completed(load["status"].get("202", 0), since)
        time.sleep(SETTLE_S)  # the outbox's last marks
        cpu_after = cpu_seconds(_cpu_pids(ctx, stack))
        variables = stack.consumer_variables()
        answer_ms = stack.owner_answer_ms()
    finally:
        stack.stop_consumers()
    rows = stack.finished(since)
    first_ms = load["first_send"] * 1000
    last_ms = max((p for _, p in rows), default=first_ms + 1)
    per_task = 1000 / max(len(rows), 1)
    cpu = {role: (cpu_after[role] - cpu_before.get(role, 0.0)) * per_task for role in cpu_after}
    cpu["wrk"] = load["cpu_s"] * per_task
    return {
        "consumer": _settings(stack.consumer_env(**consumer)),
        "consumer_variables": variables,
        "sent": load["sent"],
        "status": load["status"],
        "transport_errors": load["errors"],
        "completed": len(rows),
        "accepted_per_s": load["accepted_per_s"],
        "completed_per_s": len(rows) / ((last_ms - first_ms) / 1000),
        "post_latency_ms": {k: v / 1000 for k, v in load["latency_us"].items()},
        "latency_ms": percentiles([p - c for c, p in rows]),
        "latencies_ms": [p - c for c, p in rows],
        "accepted_series": per_second([c for c, _ in rows], first_ms),
        "completed_series": per_second([p for _, p in rows], first_ms),
        "cpu_ms_per_task": cpu,
        "owner_answer_ms": answer_ms,
    }


def _open_loop(ctx: Context, stack: BenchStack) -> dict[str, Any]:
    plan = ctx.plan
    open_loop: dict[str, Any] = {"seconds": plan.open_seconds, "rates": []}
    for rate in plan.open_rates:
        since = int(time.time() * 1000)
        cpu_before, loadgen_before = cpu_seconds(_cpu_pids(ctx, stack)), children_cpu_s()
        result = run_json(
            "bench.loadgen",
            {
                "mode": "open",
                "url": stack.tasks_url,
                "rate": rate,
                "seconds": plan.open_seconds,
                "connections": plan.concurrency,
            },
        )
        loadgen_s = children_cpu_s() - loadgen_before
        stack.wait_completed(result["status"].get("202", 0), since)
        cpu_after = cpu_seconds(_cpu_pids(ctx, stack))
        per_request = 1000 / max(result["sent"], 1)
        result["cpu_ms_per_request"] = {
            **{r: (cpu_after[r] - cpu_before.get(r, 0.0)) * per_request for r in cpu_after},
            "load generator": loadgen_s * per_request,
        }
        latencies = result.pop("latencies_ms")
        result["latency_ms"] = percentiles(latencies)
        result["latencies_ms"] = latencies
        open_loop["rates"].append(result)
    return open_loop


def _design_floor(ctx: Context, name: str, consumer: dict[str, str]) -> dict[str, Any]:
    """The same tasks through one real consumer with `consumer` settings, against an owner that
    publishes and answers but keeps no database and serves no HTTP (bench/owner_floor.py)."""
    stack = BenchStack(ctx.space, ctx.workdir, f"design-{name}")
    settings = Settings.from_env(stack.consumer_env(**consumer))
    tasks = ctx.plan.e2e_tasks
    spec: dict[str, Any] = {
        "amqp_url": ctx.space.amqp_url,
        "queue": settings.queue,
        "tasks": tasks,
        "in_flight": ctx.plan.concurrency,
        "consumers": settings.channels,
    }
    try:
        with ThreadPoolExecutor(1) as pool:
            # the owner first: a consumer is ready only once the owner answers its pings
            owner = pool.submit(run_json, "bench.owner_floor", spec)
            stack.start_consumers(1, **consumer)
            pids = {"consumer": stack.pids()["consumer"], "broker": ctx.broker_pids}
            before = cpu_seconds(pids)
            result = owner.result()
            after = cpu_seconds(pids)
            result["owner_answer_ms"] = stack.owner_answer_ms()
    finally:
        stack.stop()
    # the consumer's and the broker's from their start to the last answer (the consumer idles
    # while the owner waits for it, so its CPU is the task's)
    for role, used in after.items():
        result[f"{role}_cpu_ms_per_task"] = (used - before.get(role, 0.0)) * 1000 / tasks
    return result


def throughput_run(ctx: Context, role: str) -> dict[str, Any]:
    """The end-to-end run with the throughput settings on a stack of its own, named `role`, in
    `ctx.space` (the cluster section's: the same measurement on another broker)."""
    stack = BenchStack(ctx.space, ctx.workdir, role)
    try:
        stack.migrate()
        stack.start_api()
        ctx.sampler.watch(stack.pids)
        return run_end_to_end(ctx, stack, throughput_consumer(os.environ))
    finally:
        ctx.sampler.watch(dict)
        stack.stop()


def end_to_end_and_open_loop(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sections 2 and 3: (end to end, open loop)."""
    plan = ctx.plan
    stack = BenchStack(ctx.space, ctx.workdir, "e2e")
    try:
        stack.migrate()
        stack.start_api()
        ctx.sampler.watch(stack.pids)
        runs = {
            name: run_end_to_end(ctx, stack, consumer) for name, consumer in consumers().items()
        }
        stack.start_consumers(1, **throughput_consumer(os.environ))
        open_loop = _open_loop(ctx, stack)
    finally:
        ctx.sampler.watch(dict)
        stack.stop()
    design = {name: _design_floor(ctx, name, consumer) for name, consumer in consumers().items()}
    api = Settings.from_env(stack.env)
    e2e = {
        "tasks": plan.e2e_tasks,
        "concurrency": plan.concurrency,
        "generator": f"{wrk.version()}, 1 thread, {plan.concurrency} connections",
        "broker_pids": ctx.broker_pids,
        "api": {"db_synchronous": api.db_synchronous, "commit_linger_ms": api.commit_linger_ms},
        "runs": runs,
        "design_floor": design,
    }
    return e2e, open_loop

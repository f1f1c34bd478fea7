"""`python -m bench [--quick] [--out DIR] [--only SECTION,...]`: run, print, save, draw."""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench import clustered, e2e, plot, schedule, sections, wrk
from bench.plan import FULL, QUICK
from bench.report import print_table, verdicts
from bench.sampler import RssSampler
from bench.stack import DEFAULT_AMQP_URL, BrokerSpace, stop_on_sigterm
from tests.support.processes import ROOT

# the cluster runs right after the single node's end to end, on a machine in the same state
GROUPS = (
    "floor",
    "e2e",
    "cluster",
    "seed",
    "listing",
    "memory",
    "schedule",
    "priority",
    "batch",
)
NEEDS_WRK = {"e2e", "cluster", "seed", "memory"}


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: all of it in < 2 min")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}"
    )
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("TASKQ_BENCH_AMQP_URL")
        or os.environ.get("TASKQ_TEST_AMQP_URL")
        or DEFAULT_AMQP_URL,
    )
    parser.add_argument("--mgmt-url", default=os.environ.get("TASKQ_TEST_MGMT_URL"))
    return parser.parse_args()


def _without_raw(node: Any) -> Any:
    """The JSON keeps percentiles and series; raw latency lists only feed the picture."""
    if isinstance(node, dict):
        return {k: _without_raw(v) for k, v in node.items() if k != "latencies_ms"}
    if isinstance(node, list):
        return [_without_raw(v) for v in node]
    return node


def _end_to_end(ctx: sections.Context, results: dict[str, Any]) -> None:
    results.update(zip(("e2e", "open_loop"), e2e.end_to_end_and_open_loop(ctx), strict=True))
    # A shared machine's speed drifts by a third within minutes, and the targets divide by the
    # floor of section 1: the floor again, right after, shows how far that reading still holds.
    results["floor_after_e2e"] = sections.broker_floor(ctx)


def main() -> None:
    stop_on_sigterm()
    args = _args()
    plan = QUICK if args.quick else FULL
    wanted = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(wanted) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
    if NEEDS_WRK & set(wanted):
        try:
            wrk.ensure()
        except wrk.WrkMissing as exc:
            raise SystemExit(str(exc)) from None
    # piped output (make bench | tee, CI logs) gets a width the table fits in
    console = Console(width=None if sys.stdout.isatty() else 150)
    started = datetime.now().astimezone()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "environment": {
            k: v for k, v in os.environ.items() if k.startswith("TASKQ_") and "URL" not in k
        },
        "plan": dataclasses.asdict(plan),
        "errors": {},
        "sections": {},
    }
    sampler = RssSampler()
    sampler.start()
    space = BrokerSpace(args.amqp_url, args.mgmt_url)
    # what it made on the broker, so a caller can check it is gone afterwards
    results["broker_space"] = {"vhost": space.vhost, "queue_prefix": space.prefix}
    clock = time.perf_counter()
    try:
        broker_pid = space.broker_pid()
        console.print(
            f"[bold]taskq bench[/bold] ({results['mode']}) on {space.describe()}, broker "
            + (f"pid {broker_pid}" if broker_pid else "not on this machine (CPU not measured)")
        )
        with tempfile.TemporaryDirectory(prefix="taskq-bench-") as tmp:
            pids = [broker_pid] if broker_pid else []
            ctx = sections.Context(plan, space, Path(tmp), sampler, pids)
            steps = {
                "floor": lambda: results.__setitem__("floor", sections.broker_floor(ctx)),
                "e2e": lambda: _end_to_end(ctx, results),
                "cluster": lambda: results.__setitem__(
                    "cluster", clustered.cluster_end_to_end(ctx)
                ),
                "seed": lambda: results.__setitem__("seed", sections.seed_and_scale_out(ctx)),
                "listing": lambda: results.__setitem__("listing", sections.listing(ctx)),
                "memory": lambda: results.__setitem__("memory", sections.memory(ctx)),
                "schedule": lambda: results.__setitem__(
                    "schedule", schedule.schedule_lateness(ctx)
                ),
                "priority": lambda: results.__setitem__("priority", sections.priority(ctx)),
                "batch": lambda: results.__setitem__("batch", sections.batch(ctx)),
            }
            for name in GROUPS:
                if name not in wanted:
                    continue
                began = time.perf_counter()
                load_before = os.getloadavg()[0]
                with console.status(f"running {name} …"):
                    try:
                        steps[name]()
                    except Exception:  # one broken section still leaves a report of the rest
                        results["errors"][name] = traceback.format_exc()
                        console.print(f"[red]{name} failed[/red]")
                        console.print(results["errors"][name], markup=False, highlight=False)
                took = time.perf_counter() - began
                results["sections"][name] = {
                    "seconds": took,
                    "loadavg_1m": [load_before, os.getloadavg()[0]],
                }
                console.print(f"  {name}: {took:.1f}s (load average {os.getloadavg()[0]:.1f})")
    finally:
        sampler.stop()
        space.close()
    results["elapsed_s"] = time.perf_counter() - clock
    results["peak_rss_mib"] = sampler.peak
    results["rss_samples"] = sampler.samples
    results["verdicts"] = verdicts(results)
    print_table(results, console)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{stamp}.json"
    json_path.write_bytes(orjson.dumps(_without_raw(results), option=orjson.OPT_INDENT_2))
    png_path = args.out / f"{stamp}.png"
    plot.draw(results, png_path)
    console.print(f"wrote {json_path} and {png_path} in {results['elapsed_s']:.0f}s")

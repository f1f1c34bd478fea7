"""`python -m bench.versus OTHER [--rounds 3] [--tasks 20000]`: this checkout's services beside
another checkout's, in alternating rounds on the same broker and the same machine state.

OTHER is a checkout of an older commit, say the design before consumers stopped writing to
SQLite: `git worktree add /tmp/old 4f672ed`. It runs with this checkout's virtualenv (its
`python -m services.<name>` resolves against its own tree). Each round measures the broker floor,
then, for each consumer setting (the seed's 2 x 5 and the throughput 2 x 50, no simulated work),
the end-to-end run of `make bench` (wrk, 20,000 POSTs, 64 connections) against each checkout in
turn, the order swapped every round so that neither always runs on a warmer machine. Every run
gets a fresh vhost, database and processes. It prints completed tasks/s, their ratio to the
round's floor and the CPU per task, and writes bench/results/versus-STAMP.json."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psutil  # type: ignore[import-untyped, unused-ignore]
from rich.console import Console
from rich.table import Table

from bench import e2e, sections, wrk
from bench.plan import FULL
from bench.sampler import RssSampler
from bench.stack import DEFAULT_AMQP_URL, BenchStack, BrokerSpace, stop_on_sigterm
from tests.support.processes import ROOT

SETTINGS = tuple(e2e.consumers())  # the end-to-end runs of `make bench`: seed, throughput
ROLES = ("api", "consumer", "broker")


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__)
    parser.add_argument("other", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=FULL.e2e_tasks, help="POSTs per run")
    parser.add_argument(
        "--other-consumers-open-db",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give the other checkout's consumers the database (designs before issue 8 need it)",
    )
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument(
        "--mgmt-url", help="the management API (default: the broker's host, :15672)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if not (args.other / "services" / "api").is_dir():
        parser.error(f"{args.other} holds no taskq checkout (no services/api)")
    if args.rounds < 1 or args.tasks < 1:
        parser.error("--rounds and --tasks must be at least 1")
    return args


def _stack_run(
    base: sections.Context, checkout: Path, consumers_open_db: bool, setting: str, role: str
) -> dict[str, Any]:
    """One end-to-end run of one checkout, in a vhost of its own (the two designs' topologies
    need not agree), deleted afterwards."""
    space = BrokerSpace(base.space.base_url, base.space.mgmt)
    try:
        ctx = dataclasses.replace(base, space=space)
        stack = BenchStack(
            space, base.workdir, role, checkout=checkout, consumers_open_db=consumers_open_db
        )
        try:
            stack.migrate()
            api = stack.start_api()
            # where the API really runs from: `python -m` imports the services of its cwd
            api_cwd = psutil.Process(api.pid).cwd()
            run = e2e.run_end_to_end(ctx, stack, e2e.consumers()[setting])
        finally:
            stack.stop()
    finally:
        space.close()
    return {
        "vhost": space.vhost,
        "api_cwd": api_cwd,
        "completed": run["completed"],
        "completed_per_s": run["completed_per_s"],
        "cpu_ms_per_task": {r: run["cpu_ms_per_task"].get(r) for r in ROLES},
    }


def summary(rounds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per setting: each side's completed/s ÷ its round's floor (lowest, highest) and the mean
    of this side's completed/s over the other's."""
    out: dict[str, dict[str, Any]] = {}
    for setting in SETTINGS:
        ratios: dict[str, list[float]] = {"this": [], "other": []}
        rates: dict[str, list[float]] = {"this": [], "other": []}
        for rnd in rounds:
            for side in ratios:
                rate = rnd[setting][side]["completed_per_s"]
                rates[side].append(rate)
                ratios[side].append(rate / rnd["floor_msg_per_s"])
        out[setting] = {
            **{f"{side}_floor_ratio": (min(r), max(r)) for side, r in ratios.items()},
            "this_over_other": sum(rates["this"]) / sum(rates["other"]),
        }
    return out


def _print(rounds: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="completed tasks/s: other checkout / this one (÷ the round's floor)")
    table.add_column("round")
    table.add_column("floor msg/s", justify="right")
    for setting in SETTINGS:
        table.add_column(setting, justify="right")
    for number, rnd in enumerate(rounds, 1):
        floor = rnd["floor_msg_per_s"]
        cells = [
            " / ".join(
                f"{rnd[s][side]['completed_per_s']:,.0f} "
                f"({rnd[s][side]['completed_per_s'] / floor:.3f})"
                for side in ("other", "this")
            )
            for s in SETTINGS
        ]
        table.add_row(str(number), f"{floor:,.0f}", *cells)
    console.print(table)
    for setting, row in summary(rounds).items():
        cpu = {
            side: ", ".join(
                f"{r} {min(x[setting][side]['cpu_ms_per_task'][r] or 0 for x in rounds):.2f}-"
                f"{max(x[setting][side]['cpu_ms_per_task'][r] or 0 for x in rounds):.2f}"
                for r in ROLES
            )
            for side in ("other", "this")
        }
        console.print(
            f"{setting}: ÷ floor other {row['other_floor_ratio'][0]:.3f}-"
            f"{row['other_floor_ratio'][1]:.3f}, this {row['this_floor_ratio'][0]:.3f}-"
            f"{row['this_floor_ratio'][1]:.3f}; this ÷ other {row['this_over_other']:.2f}; "
            f"CPU ms/task other ({cpu['other']}), this ({cpu['this']})"
        )


def main(argv: list[str] | None = None) -> None:
    stop_on_sigterm()
    args = _args(argv)
    try:
        wrk.ensure()
    except wrk.WrkMissing as exc:
        raise SystemExit(str(exc)) from None
    console = Console(width=None if sys.stdout.isatty() else 150)
    other = args.other.resolve()
    plan = dataclasses.replace(FULL, e2e_tasks=args.tasks)
    sides = {"this": (ROOT, False), "other": (other, args.other_consumers_open_db)}
    started = datetime.now().astimezone()
    rounds: list[dict[str, Any]] = []
    floor_space = BrokerSpace(args.amqp_url, args.mgmt_url)
    try:
        pid = floor_space.broker_pid()
        with tempfile.TemporaryDirectory(prefix="taskq-versus-") as tmp:
            ctx = sections.Context(plan, floor_space, Path(tmp), RssSampler(), [pid] if pid else [])
            for number in range(args.rounds):
                floor = sections.broker_floor(ctx)
                rnd: dict[str, Any] = {"floor": floor, "floor_msg_per_s": floor["publish_per_s"]}
                order = ("other", "this") if number % 2 == 0 else ("this", "other")
                for setting in SETTINGS:
                    rnd[setting] = {}
                    for side in order:
                        checkout, open_db = sides[side]
                        role = f"r{number}-{setting}-{side}"
                        rnd[setting][side] = _stack_run(ctx, checkout, open_db, setting, role)
                        done = rnd[setting][side]["completed_per_s"]
                        console.print(f"  round {number + 1} {setting} {side}: {done:,.0f}/s")
                rounds.append(rnd)
    finally:
        floor_space.close()
    _print(rounds, console)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"versus-{started.strftime('%Y%m%d-%H%M%S')}.json"
    result = {
        "started": started.isoformat(timespec="seconds"),
        "this": str(ROOT),
        "other": str(other),
        "tasks": args.tasks,
        "floor_vhost": floor_space.vhost,
        "rounds": rounds,
        "summary": summary(rounds),
    }
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()

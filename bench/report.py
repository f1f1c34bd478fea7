"""The verdicts: each performance target checked against what the run measured, and the one
table that shows it all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tests.support.processes import DATABASE_VARIABLES

Results = dict[str, Any]

CLUSTER = "8 cluster, 3 nodes"


@dataclass(frozen=True)
class Target:
    section: str
    name: str
    wanted: str
    check: Callable[[Results], tuple[float | None, bool | None]]
    unit: str = ""
    digits: int = 2


def _get(results: Results | None, *path: Any) -> Any:
    node: Any = results
    for key in path:
        if (isinstance(node, dict) and key in node) or (
            isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node)
        ):
            node = node[key]
        else:
            return None
    return node


def _at_most(value: float | None, bound: float) -> tuple[float | None, bool | None]:
    return value, None if value is None else value <= bound


def _at_least(value: float | None, bound: float) -> tuple[float | None, bool | None]:
    return value, None if value is None else value >= bound


def _open_rate(results: Results, rate: int) -> Results | None:
    for run in _get(results, "open_loop", "rates") or []:
        if run["offered_per_s"] == rate:
            return dict(run)
    return None


def _scale(results: Results, procs: int) -> float | None:
    for run in _get(results, "seed", "runs") or []:
        if run["procs"] == procs:
            return float(run["ratio"])
    return None


def _e2e_vs_floor(results: Results, run: str) -> float | None:
    e2e = _get(results, "e2e", "runs", run, "completed_per_s")
    floor = _get(results, "floor", "publish_per_s")
    return e2e / floor if e2e is not None and floor else None


def _batch_vs_floor(results: Results) -> float | None:
    accepted = _get(results, "batch", "accepted_per_s")
    floor = _get(results, "floor", "publish_per_s")
    return accepted / floor if accepted is not None and floor else None


TARGETS = (
    Target(
        "e2e",
        "completed/s ÷ floor publish/s, seed settings",
        "≥ 0.22",
        lambda r: _at_least(_e2e_vs_floor(r, "seed"), 0.22),
        digits=3,
    ),
    Target(
        "e2e",
        "completed/s ÷ floor publish/s, throughput settings",
        "≥ 0.30",
        lambda r: _at_least(_e2e_vs_floor(r, "throughput"), 0.30),
        digits=3,
    ),
    Target(
        "open_loop",
        "POST p99 at 500 req/s offered",
        "≤ 25 ms",
        lambda r: _at_most(_get(_open_rate(r, 500), "latency_ms", "p99"), 25),
        " ms",
    ),
    Target(
        "seed",
        "completed/s, 1 consumer process",
        "≥ 90",
        lambda r: _at_least(_get(r, "seed", "runs", 0, "completed_per_s"), 90),
    ),
    Target("scale_out", "2 processes ÷ 1", "≥ 1.80×", lambda r: _at_least(_scale(r, 2), 1.8), "×"),
    Target("scale_out", "4 processes ÷ 1", "≥ 3.40×", lambda r: _at_least(_scale(r, 4), 3.4), "×"),
    Target(
        "listing",
        "first page p99 (status=completed)",
        "≤ 20 ms",
        lambda r: _at_most(
            _get(r, "listing", "pages", "first page (status)", "latency_ms", "p99"), 20
        ),
        " ms",
    ),
    Target(
        "listing",
        "deep cursor page p99 (status=completed)",
        "≤ 20 ms",
        lambda r: _at_most(
            _get(r, "listing", "pages", "deep page (status)", "latency_ms", "p99"), 20
        ),
        " ms",
    ),
    Target(
        "schedule",
        "delayed task start lateness p99",
        "≤ 1000 ms",
        lambda r: _at_most(_get(r, "schedule", "lateness_ms", "p99"), 1000),
        " ms",
        digits=0,
    ),
    Target(
        "memory",
        "API RSS growth, last ÷ first checkpoint",
        "≤ +20%",
        lambda r: _at_most(_pct(_get(r, "memory", "growth", "api")), 20),
        "%",
    ),
    Target(
        "memory",
        "consumer RSS growth, last ÷ first checkpoint",
        "≤ +20%",
        lambda r: _at_most(_pct(_get(r, "memory", "growth", "consumer")), 20),
        "%",
    ),
    Target(
        "priority",
        "high task start delay p99 behind the backlog",
        "≤ 1,000 ms",
        lambda r: _at_most(_get(r, "priority", "start_delay_ms", "p99"), 1000),
        " ms",
        0,
    ),
    Target(
        "batch",
        "accepted/s through batches ÷ floor publish/s",
        "≥ 0.50",
        lambda r: _at_least(_batch_vs_floor(r), 0.5),
        digits=3,
    ),
)


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100


# The run step (`--only` name) whose results a target reads, where the names differ.
_STEP = {"open_loop": "e2e", "scale_out": "seed"}
NOT_RUN = "NOT RUN"


def verdicts(results: Results) -> list[dict[str, Any]]:
    """Each target's measure and PASS or MISS; NOT RUN when `--only` left its section out (a
    section that ran and measured nothing is a MISS)."""
    ran = results.get("sections", {})
    out = []
    for target in TARGETS:
        value, ok = target.check(results)
        result = "PASS" if ok else "MISS"
        if _STEP.get(target.section, target.section) not in ran:
            result = NOT_RUN
        out.append(
            {
                "section": target.section,
                "target": target.name,
                "wanted": target.wanted,
                "measured": value,
                "unit": target.unit,
                "digits": target.digits,
                "result": result,
            }
        )
    return out


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _pcts(lat: Results | None) -> str:
    if not lat:
        return "—"
    return f"{_n(lat['p50'], 1)} / {_n(lat['p95'], 1)} / {_n(lat['p99'], 1)}"


def _lateness(lat: Results) -> str:
    return f"{_n(lat['p50'], 1)} / {_n(lat['p99'], 1)} / {_n(lat['max'], 1)}"


def _consumer(settings: Results) -> str:
    return (
        f"{settings['channels']} ch × prefetch {settings['prefetch']}, "
        f"{settings['work_delay_ms']} ms work"
    )


def _e2e_rows(results: Results) -> list[tuple[str, str, str]]:
    e2e = results.get("e2e")
    if not e2e:
        return []
    api = e2e["api"]
    cores = results["machine"]["cpus"]
    rows = [
        ("2 end to end", "load, per run", f"{e2e['tasks']:,} POSTs by {e2e['generator']}"),
        (
            "2 end to end",
            "API settings",
            f"synchronous {api['db_synchronous']}, commit linger {api['commit_linger_ms']} ms",
        ),
    ]
    for name, run in e2e["runs"].items():
        label = f"2 end to end, {name} settings"
        cpu = run["cpu_ms_per_task"]
        leaked = sorted(set(run["consumer_variables"]) & DATABASE_VARIABLES)
        post = run["post_latency_ms"]
        rows += [
            (label, "consumer settings", _consumer(run["consumer"])),
            (
                label,
                "database variables in the consumer's environment",
                ", ".join(leaked) or "none",
            ),
            (
                label,
                "accepted/s, completed/s",
                f"{_n(run['accepted_per_s'])}, {_n(run['completed_per_s'])}",
            ),
            (label, "completed/s ÷ floor publish/s", _n(_e2e_vs_floor(results, name), 3)),
            (label, "submit→completed p50/p95/p99 ms", _pcts(run["latency_ms"])),
            (
                label,
                "POST p50/p99 ms at saturation",
                f"{_n(post['p50'], 1)} / {_n(post['p99'], 1)}",
            ),
            (
                label,
                "owner's answer to a report message, mean ms (two per task)",
                _n(run.get("owner_answer_ms"), 2),
            ),
            (
                label,
                "CPU ms per task: API, consumer, broker, wrk",
                ", ".join(_n(cpu.get(role), 2) for role in ("api", "consumer", "broker", "wrk")),
            ),
            (
                label,
                f"CPU ms per task, sum → tasks/s {cores} cores allow at that cost",
                f"{_n(sum(cpu.values()), 2)} → {_n(cores * 1000 / sum(cpu.values()))}"
                if sum(cpu.values()) > 0
                else "—",
            ),
        ]
        errors = run["transport_errors"]
        if run["status"].keys() - {"202"} or any(errors.values()):
            rows.append((label, "non-202 answers; transport errors", f"{run['status']}; {errors}"))
    floor = _get(results, "floor", "publish_per_s")
    for name, design in e2e.get("design_floor", {}).items():
        rows.append(
            (
                f"2 design floor, {name} settings",
                "completed/s, ÷ floor publish/s (real consumer; owner without HTTP or SQLite)",
                f"{_n(design['completed_per_s'])}, "
                f"{_n(design['completed_per_s'] / floor if floor else None, 3)}",
            )
        )
        rows.append(
            (
                f"2 design floor, {name} settings",
                "owner's answer to a report message, mean ms",
                _n(design.get("owner_answer_ms"), 2),
            )
        )
        rows.append(
            (
                f"2 design floor, {name} settings",
                "CPU ms per task: owner (no HTTP, no SQLite), consumer, broker",
                ", ".join(
                    _n(design.get(f"{role}_cpu_ms_per_task"), 2)
                    for role in ("owner", "consumer", "broker")
                ),
            )
        )
    return rows


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "—"


def cluster_rows(results: Results) -> list[tuple[str, str, str]]:
    """The cluster's throughput run beside the single node's from the same run, if that ran."""
    found = results.get("cluster")
    if not found:
        return []
    if "skipped" in found:
        return [(CLUSTER, "end to end, throughput settings", found["skipped"])]
    run = found["run"]
    cpu = run["cpu_ms_per_task"]
    single = _get(results, "e2e", "runs", "throughput") or {}
    single_cpu = single.get("cpu_ms_per_task", {})
    rate, single_rate = run["completed_per_s"], single.get("completed_per_s")
    how = f"started for this run in {found['up_s']:.0f} s" if found["started_here"] else "running"
    rows = [
        (
            CLUSTER,
            "load, broker",
            f"{found['tasks']:,} POSTs, {_consumer(run['consumer'])}; "
            f"{found['space']}; cluster {how}",
        ),
        (
            CLUSTER,
            "completed/s: cluster; single node (same run); cluster ÷ single",
            f"{_n(rate)}; {_n(single_rate)}; {_ratio(rate, single_rate)}",
        ),
        (CLUSTER, "submit→completed p50/p95/p99 ms", _pcts(run["latency_ms"])),
        (
            CLUSTER,
            "CPU ms per task: API, consumer, 3 broker nodes together, wrk",
            ", ".join(_n(cpu.get(role), 2) for role in ("api", "consumer", "broker", "wrk")),
        ),
        (
            CLUSTER,
            "broker CPU ms per task: 3 nodes; single node; cluster ÷ single",
            f"{_n(cpu.get('broker'), 2)}; {_n(single_cpu.get('broker'), 2)}; "
            f"{_ratio(cpu.get('broker'), single_cpu.get('broker'))}",
        ),
    ]
    errors = run["transport_errors"]
    if run["status"].keys() - {"202"} or any(errors.values()):
        rows.append((CLUSTER, "non-202 answers; transport errors", f"{run['status']}; {errors}"))
    return rows


def _rows(results: Results) -> list[tuple[str, str, str]]:
    """(section, measure, value) rows of everything measured, without verdicts."""
    rows: list[tuple[str, str, str]] = []
    floor = results.get("floor")
    if floor:
        what = f"{floor['message_bytes']} B, {floor['in_flight']} in flight, prefetch {floor['prefetch']}"
        rows.append(("1 broker floor", f"publish msg/s ({what})", _n(floor["publish_per_s"])))
        rows.append(("1 broker floor", "consume msg/s (manual ack)", _n(floor["consume_per_s"])))
        again = _get(results, "floor_after_e2e", "publish_per_s")
        if again is not None:
            rows.append(
                (
                    "1 broker floor",
                    "publish msg/s again, after the end-to-end runs (÷ the first)",
                    f"{_n(again)} ({_ratio(again, floor['publish_per_s'])})",
                )
            )
        if "broker_cpu_ms_per_message" in floor:
            rows.append(
                (
                    "1 broker floor",
                    "broker CPU ms per message (publish + consume)",
                    _n(floor["broker_cpu_ms_per_message"], 2),
                )
            )
    rows += _e2e_rows(results)
    for run in _get(results, "open_loop", "rates") or []:
        label = f"3 open loop {run['offered_per_s']:,}/s"
        rows.append((label, "achieved/s, errors", f"{_n(run['achieved_per_s'])}, {run['errors']}"))
        rows.append((label, "POST p50/p95/p99 ms", _pcts(run["latency_ms"])))
        cpu = run.get("cpu_ms_per_request", {})
        rows.append(
            (
                label,
                "CPU ms per request: API, consumer, broker, load generator (Python)",
                ", ".join(
                    _n(cpu.get(role), 2) for role in ("api", "consumer", "broker", "load generator")
                ),
            )
        )
    seed = results.get("seed")
    if seed:
        for run in seed["runs"]:
            section = "4 seed settings" if run["procs"] == 1 else "5 scale-out"
            rows.append(
                (
                    section,
                    f"{run['procs']} consumer process(es): completed/s (ceiling {run['ceiling_per_s']:,.0f})",
                    f"{_n(run['completed_per_s'])}  ({run['ratio']:.2f}×)",
                )
            )
    listing = results.get("listing")
    if listing:
        label = f"6 listing ({listing['rows']:,} rows)"
        for name, page in listing["pages"].items():
            lat = page["latency_ms"]
            rows.append((label, f"{name} p50/p99 ms", f"{_n(lat['p50'], 1)} / {_n(lat['p99'], 1)}"))
    mem = results.get("memory")
    if mem:
        first, last = mem["checkpoints"]
        for role in ("api", "consumer"):
            peak = _get(results, "peak_rss_mib", role)
            a, b = first["rss_mib"].get(role), last["rss_mib"].get(role)
            rows.append(
                (
                    "7 memory",
                    f"{role} RSS MiB: peak; after {first['tasks']:,} → {last['tasks']:,} tasks",
                    f"{_n(peak, 1)}; {_n(a, 1)} → {_n(b, 1)}",
                )
            )
    late = results.get("schedule")
    if late:
        label = f"11 delayed tasks ({late['tasks']:,} due over {late['window_s']:g} s)"
        rows.append((label, "start lateness p50/p99/max ms", _lateness(late["lateness_ms"])))
        rows.append((label, "started early", str(late["early"])))
    rows += cluster_rows(results)
    rows += _control_rows(results)
    loads = ", ".join(
        f"{name} {max(s['loadavg_1m']):.1f}" for name, s in (results.get("sections") or {}).items()
    )
    if loads:
        rows.append(("machine", f"1-min load average ({results['machine']['cpus']} cores)", loads))
    for section, error in (results.get("errors") or {}).items():
        # the exception itself: a traceback's last line
        rows.append((section, "ERROR", error.strip().splitlines()[-1][:120] if error else "?"))
    return rows


def _control_rows(results: Results) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    prio = results.get("priority")
    if prio:
        label = f"9 priority ({prio['backlog']:,} normal queued first, seed settings)"
        rows.append(
            (
                label,
                f"{prio['high_tasks']} high tasks: start delay p50/p95/p99 ms",
                _pcts(prio["start_delay_ms"]),
            )
        )
        rows.append(
            (
                label,
                "normal tasks still queued when they were done",
                _n(prio["normal_still_queued"]),
            )
        )
    done = results.get("batch")
    if done:
        label = f"10 batch ({done['batch']:,} a request, {done['clients']} at a time)"
        rows.append((label, "tasks accepted/s", _n(done["accepted_per_s"])))
        rows.append((label, "request p50/p95/p99 ms", _pcts(done["request_ms"])))
        rows.append((label, "÷ floor publish/s", _n(_batch_vs_floor(results), 3)))
    return rows


def print_table(results: Results, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"taskq benchmark ({results['mode']}) — {results['started']}")
    table.add_column("section")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for section, measure, value in _rows(results):
        table.add_row(escape(section), escape(measure), escape(value))
    table.add_section()
    for verdict in results["verdicts"]:
        value = verdict["measured"]
        shown = "—" if value is None else f"{value:,.{verdict['digits']}f}{verdict['unit']}"
        colour = {"PASS": "green", NOT_RUN: "dim"}.get(verdict["result"], "red")
        table.add_row(
            f"target: {verdict['section']}",
            f"{verdict['target']} {verdict['wanted']}",
            f"{shown} [{colour}]{verdict['result']}[/{colour}]",
        )
    console.print(table)

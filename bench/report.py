"""The verdicts: each performance target checked against what the run measured, and the one
table that shows it all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

Results = dict[str, Any]

SECTIONS = ("floor", "e2e", "open_loop", "seed", "scale_out", "listing", "memory")


@dataclass(frozen=True)
class Target:
    section: str
    name: str
    wanted: str
    check: Callable[[Results], tuple[float | None, bool | None]]
    unit: str = ""


def _get(results: Results, *path: Any) -> Any:
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


def _e2e_vs_floor(results: Results) -> float | None:
    e2e, floor = _get(results, "e2e", "completed_per_s"), _get(results, "floor", "publish_per_s")
    return e2e / floor if e2e is not None and floor else None


TARGETS = (
    Target(
        "e2e",
        "completed/s",
        "≥ 1,500",
        lambda r: _at_least(_get(r, "e2e", "completed_per_s"), 1500),
    ),
    Target(
        "e2e", "completed/s ÷ floor publish/s", "≥ 0.40", lambda r: _at_least(_e2e_vs_floor(r), 0.4)
    ),
    Target(
        "open_loop",
        "POST p50 at 1,000 req/s",
        "≤ 10 ms",
        lambda r: _at_most(_get(_open_rate(r, 1000), "latency_ms", "p50"), 10),
        " ms",
    ),
    Target(
        "open_loop",
        "POST p99 at 1,000 req/s",
        "≤ 25 ms",
        lambda r: _at_most(_get(_open_rate(r, 1000), "latency_ms", "p99"), 25),
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
)


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100


def verdicts(results: Results) -> list[dict[str, Any]]:
    out = []
    for target in TARGETS:
        value, ok = target.check(results)
        out.append(
            {
                "section": target.section,
                "target": target.name,
                "wanted": target.wanted,
                "measured": value,
                "unit": target.unit,
                "result": "PASS" if ok else "MISS",
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


def _rows(results: Results) -> list[tuple[str, str, str]]:
    """(section, measure, value) rows of everything measured, without verdicts."""
    rows: list[tuple[str, str, str]] = []
    floor = results.get("floor")
    if floor:
        what = f"{floor['message_bytes']} B, {floor['in_flight']} in flight, prefetch {floor['prefetch']}"
        rows.append(("1 broker floor", f"publish msg/s ({what})", _n(floor["publish_per_s"])))
        rows.append(("1 broker floor", "consume msg/s (manual ack)", _n(floor["consume_per_s"])))
    e2e = results.get("e2e")
    if e2e:
        label = f"2 end to end ({e2e['tasks']:,} tasks, {e2e['concurrency']} clients)"
        rows.append((label, "accepted/s", _n(e2e["accepted_per_s"])))
        rows.append((label, "completed/s", _n(e2e["completed_per_s"])))
        ratio = _e2e_vs_floor(results)
        rows.append((label, "completed/s ÷ floor publish/s", _n(ratio, 2)))
        rows.append((label, "submit→completed p50/p95/p99 ms", _pcts(e2e["latency_ms"])))
        cpu = e2e.get("cpu_ms_per_task", {})
        rows.append(
            (
                label,
                "CPU ms per task: API, consumer",
                f"{_n(cpu.get('api'), 2)}, {_n(cpu.get('consumer'), 2)}",
            )
        )
        consumer = e2e["consumer"]
        rows.append(
            (
                label,
                "consumer settings",
                f"{consumer['channels']} ch × prefetch {consumer['prefetch']}, "
                f"synchronous {consumer['db_synchronous']}",
            )
        )
        if e2e["status"].keys() - {"202"}:
            rows.append((label, "non-202 answers", str(e2e["status"])))
    for run in _get(results, "open_loop", "rates") or []:
        label = f"3 open loop {run['offered_per_s']:,}/s"
        rows.append((label, "achieved/s, errors", f"{_n(run['achieved_per_s'])}, {run['errors']}"))
        rows.append((label, "POST p50/p95/p99 ms", _pcts(run["latency_ms"])))
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
    loads = ", ".join(
        f"{name} {max(s['loadavg_1m']):.1f}" for name, s in (results.get("sections") or {}).items()
    )
    if loads:
        rows.append(("machine", f"1-min load average ({results['machine']['cpus']} cores)", loads))
    for section, error in (results.get("errors") or {}).items():
        rows.append((section, "ERROR", error.splitlines()[0][:120] if error else "?"))
    return rows


def print_table(results: Results, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"taskq benchmark ({results['mode']}) — {results['started']}")
    table.add_column("section")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for section, measure, value in _rows(results):
        table.add_row(section, measure, value)
    table.add_section()
    for verdict in results["verdicts"]:
        value = verdict["measured"]
        shown = "—" if value is None else f"{value:,.2f}{verdict['unit']}"
        colour = "green" if verdict["result"] == "PASS" else "red"
        table.add_row(
            f"target: {verdict['section']}",
            f"{verdict['target']} {verdict['wanted']}",
            f"{shown} [{colour}]{verdict['result']}[/{colour}]",
        )
    console.print(table)

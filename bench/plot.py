"""The picture of a run: throughput over time, latency distributions, scale-out and memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

BIN_S = 0.5


def _cdf(ax: Any, values: list[float], label: str) -> None:
    if not values:
        return
    ordered = np.sort(np.asarray(values, dtype=float))
    ax.plot(ordered, np.arange(1, len(ordered) + 1) / len(ordered), label=label)


def draw(results: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    fig.suptitle(f"taskq benchmark ({results['mode']}) — {results['started']}")

    ax = axes[0][0]
    e2e = results.get("e2e")
    runs = dict(e2e["runs"]) if e2e else {}
    clustered = (results.get("cluster") or {}).get("run")
    if clustered:
        runs["3-node cluster, throughput"] = clustered
    if runs:
        for name, run in runs.items():
            for key, what in (
                ("accepted_series", "accepted/s"),
                ("completed_series", "completed/s"),
            ):
                series = run[key]
                ax.plot(np.arange(len(series)) * BIN_S, series, label=f"{name}: {what}")
        floor = results.get("floor")
        if floor:
            ax.axhline(floor["publish_per_s"], ls="--", c="grey", label="broker floor publish/s")
        ax.legend()
    ax.set(
        title="2 end to end: throughput over time", xlabel="s since first POST", ylabel="tasks/s"
    )

    ax = axes[0][1]
    if runs:
        for name, run in runs.items():
            _cdf(ax, run["latencies_ms"], f"{name} settings: submit→completed")
        ax.set_xscale("log")
        ax.legend()
    ax.set(title="2 end to end: latency CDF", xlabel="ms", ylabel="fraction")

    ax = axes[0][2]
    rates = (results.get("open_loop") or {}).get("rates", [])
    for run in rates:
        _cdf(ax, run["latencies_ms"], f"{run['offered_per_s']:,} req/s offered")
    if rates:
        ax.axvline(25, ls="--", c="grey", label="target p99 at 500 req/s")
        ax.set_xscale("log")
        ax.legend()
    ax.set(
        title="3 open loop: POST latency CDF", xlabel="ms (from scheduled send)", ylabel="fraction"
    )

    ax = axes[1][0]
    seed = results.get("seed")
    if seed:
        procs = [r["procs"] for r in seed["runs"]]
        ax.bar(
            [str(p) for p in procs], [r["completed_per_s"] for r in seed["runs"]], label="measured"
        )
        ax.plot(
            [str(p) for p in procs],
            [r["ceiling_per_s"] for r in seed["runs"]],
            "k--",
            label="ceiling",
        )
        ax.legend()
    ax.set(
        title="4/5 seed settings: completed/s by consumer processes",
        xlabel="processes",
        ylabel="tasks/s",
    )

    ax = axes[1][1]
    listing = results.get("listing")
    if listing:
        for name, page in listing["pages"].items():
            _cdf(ax, page["latencies_ms"], name)
        ax.axvline(20, ls="--", c="grey")
        ax.set_xscale("log")
        ax.legend()
    ax.set(title="6 listing: GET /tasks latency CDF", xlabel="ms", ylabel="fraction")

    ax = axes[1][2]
    samples = results.get("rss_samples") or []
    if samples:
        origin = samples[0][0]
        for role in ("api", "consumer"):
            points = [(t - origin, mib) for t, r, mib in samples if r == role]
            if points:
                ax.plot(*zip(*points, strict=True), ".", ms=2, label=role)
        ax.legend()
    ax.set(title="7 memory: RSS over the run", xlabel="s", ylabel="MiB")

    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)

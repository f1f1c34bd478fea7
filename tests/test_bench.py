"""`python -m bench --quick` runs against the real broker, drives the end-to-end load with wrk,
starts consumers with no database variable, reports every section and target, writes its JSON
and PNG, and leaves no vhost behind. Speed is never checked here."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import versus, wrk
from bench.clustered import SKIPPED_QUICK, local_cluster
from bench.report import CLUSTER, NOT_RUN, TARGETS, cluster_rows, verdicts
from scripts import cluster
from tests.support.broker import Broker
from tests.support.processes import DATABASE_VARIABLES, ROOT

BENCH_TIMEOUT_S = 280
CLEANUP_S = 60


def _queues_named(broker: Broker, prefix: str) -> set[str]:
    """Queues on any vhost whose names carry a bench run's unique prefix."""
    with broker.api() as api:
        names = {q["name"] for q in api.get("/api/queues").json()}
    return {name for name in names if name.startswith(f"{prefix}-")}


def _vhosts(broker: Broker) -> set[str]:
    with broker.api() as api:
        return {v["name"] for v in api.get("/api/vhosts").json()}


def _assert_gone(broker: Broker, made: set[str | None]) -> None:
    """The vhosts a run says it made are gone. Named, not compared with a snapshot from
    before: tests in other workers make and drop bench vhosts of their own meanwhile."""
    assert made and None not in made, made  # a run that made none could not be checked
    assert not _vhosts(broker) & made


def _run_bench(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m bench ARGS`; past its time it gets a SIGTERM, on which it stops its services
    and deletes its vhost (a SIGKILL would leave them behind)."""
    command = [sys.executable, "-m", "bench", *args]
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=BENCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.terminate()
            stdout, stderr = proc.communicate(timeout=CLEANUP_S)
            pytest.fail(f"bench took over {BENCH_TIMEOUT_S}s:\n{stdout[-3000:]}{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def test_without_wrk_the_bench_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no wrk and no apt-get here
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(wrk.WrkMissing) as missing:
        wrk.ensure()
    assert "apt-get install -y wrk" in str(missing.value)
    assert "\n" not in str(missing.value)


def _cluster_results(with_single_node: bool) -> dict[str, Any]:
    def run(rate: float, broker_ms: float) -> dict[str, Any]:
        cpu = {"api": 0.8, "consumer": 0.6, "broker": broker_ms, "wrk": 0.1}
        lat = {"p50": 100.0, "p95": 200.0, "p99": 300.0, "max": 400.0}
        settings = {"channels": 2, "prefetch": 50, "work_delay_ms": 0}
        return {
            "completed_per_s": rate,
            "cpu_ms_per_task": cpu,
            "latency_ms": lat,
            "consumer": settings,
            "status": {"202": 20000},
            "transport_errors": {},
        }

    results: dict[str, Any] = {
        "cluster": {
            "run": run(300.0, 3.0),
            "tasks": 20_000,
            "space": "queue prefix benchx on vhost /",
            "started_here": True,
            "up_s": 31.2,
        },
    }
    if with_single_node:
        results["e2e"] = {"runs": {"throughput": run(600.0, 1.0)}}
    return results


RATES = "completed/s: cluster; single node (same run); cluster ÷ single"
BROKER_CPU = "broker CPU ms per task: 3 nodes; single node; cluster ÷ single"


def test_cluster_rows_set_the_cluster_beside_the_single_node_of_the_same_run() -> None:
    rows = {measure: value for _, measure, value in cluster_rows(_cluster_results(True))}
    assert rows[RATES] == "300; 600; 0.50×"
    assert rows[BROKER_CPU] == "3.00; 1.00; 3.00×"
    cpu = rows["CPU ms per task: API, consumer, 3 broker nodes together, wrk"]
    assert cpu == "0.80, 0.60, 3.00, 0.10"
    assert "started for this run in 31 s" in rows["load, broker"]
    assert not any("non-202" in measure for measure in rows)

    alone = {measure: value for _, measure, value in cluster_rows(_cluster_results(False))}
    assert alone[RATES] == "300; —; —"
    assert alone[BROKER_CPU] == "3.00; —; —"

    skipped = [(CLUSTER, "end to end, throughput settings", SKIPPED_QUICK)]
    assert cluster_rows({"cluster": {"skipped": SKIPPED_QUICK}}) == skipped
    assert cluster_rows({}) == []


def test_a_target_whose_section_was_left_out_is_not_run_not_missed() -> None:
    partial = {
        "sections": {"floor": {}, "e2e": {}, "seed": {}},
        "floor": {"publish_per_s": 1000.0},
        "open_loop": {"rates": [{"offered_per_s": 500, "latency_ms": {"p99": 10.0}}]},
        # the seed section ran and measured nothing: that is a miss, not a skip
        "seed": {"runs": []},
    }
    results = {v["target"]: v["result"] for v in verdicts(partial)}
    assert results["POST p99 at 500 req/s offered"] == "PASS"  # its step is e2e
    assert results["completed/s, 1 consumer process"] == "MISS"
    assert results["2 processes ÷ 1"] == "MISS"  # its step is seed
    assert results["first page p99 (status=completed)"] == NOT_RUN
    assert results["accepted/s through batches ÷ floor publish/s"] == NOT_RUN
    assert set(results.values()) == {"PASS", "MISS", NOT_RUN}


@pytest.mark.parametrize(
    ("states", "calls"),
    [
        (["stopped"] * 3, ["up in ours", "down wipe=True in ours"]),
        (["running"] * 3, ["up in theirs"]),  # someone's cluster: used, never stopped
        (["running", "stopped", "frozen"], []),  # a fault mid-way: not ours to touch
    ],
)
def test_the_cluster_section_stops_only_a_cluster_it_started(
    states: list[str], calls: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKQ_CLUSTER_DIR", "theirs")
    by_node = dict(zip(cluster.NODES, states, strict=True))
    monkeypatch.setattr(cluster, "process_state", by_node.__getitem__)
    made: list[str] = []

    def where() -> str:
        return "ours" if os.environ["TASKQ_CLUSTER_DIR"] == str(tmp_path / "cluster") else "theirs"

    monkeypatch.setattr(cluster, "up", lambda: made.append(f"up in {where()}"))
    monkeypatch.setattr(cluster, "down", lambda wipe: made.append(f"down wipe={wipe} in {where()}"))
    partly = len(set(states)) > 1
    refused = pytest.raises(
        cluster.ClusterError, match=r"partly up \(taskq1 running, taskq2 stopped"
    )
    with refused if partly else contextlib.nullcontext(), local_cluster(tmp_path) as up_s:
        assert (up_s is not None) == (states[0] == "stopped")
    assert made == calls
    assert os.environ["TASKQ_CLUSTER_DIR"] == "theirs"


@pytest.mark.integration
@pytest.mark.timeout(BENCH_TIMEOUT_S + CLEANUP_S + 30)
def test_quick_bench_reports_every_section(broker: Broker, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env["TASKQ_BENCH_AMQP_URL"] = broker.amqp_url
    env["TASKQ_TEST_MGMT_URL"] = broker.mgmt_url
    # Database knobs in the caller's environment reach the API, never a consumer.
    env["TASKQ_DB_SYNCHRONOUS"] = "FULL"
    env["TASKQ_COMMIT_LINGER_MS"] = "0"
    env["COLUMNS"] = "200"
    done = _run_bench(["--quick", "--out", str(tmp_path)], env)
    if done.returncode != 0 and wrk.MISSING in done.stderr:
        pytest.fail(wrk.MISSING, pytrace=False)  # not installed, and we may not install it
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    [json_path] = tmp_path.glob("*.json")
    [png_path] = tmp_path.glob("*.png")
    assert png_path.stem == json_path.stem
    assert png_path.read_bytes().startswith(b"\x89PNG")
    results = json.loads(json_path.read_text())
    assert results["mode"] == "quick"
    assert results["errors"] == {}, results["errors"]

    assert results["floor"]["publish_per_s"] > 0 and results["floor"]["consume_per_s"] > 0
    e2e = results["e2e"]
    assert e2e["generator"].startswith("wrk")
    assert list(e2e["runs"]) == ["seed", "throughput"]
    assert e2e["runs"]["seed"]["consumer"] == {"channels": 2, "prefetch": 5, "work_delay_ms": 0}
    for run in e2e["runs"].values():
        assert run["sent"] == e2e["tasks"]
        assert run["status"] == {"202": e2e["tasks"]}
        assert run["completed"] == e2e["tasks"]
        # read from the running consumer's /proc environ, not from what the bench meant to pass
        assert "TASKQ_AMQP_URL" in run["consumer_variables"]
        assert not set(run["consumer_variables"]) & DATABASE_VARIABLES
        cpu = run["cpu_ms_per_task"]
        assert {"api", "consumer", "wrk"} <= set(cpu)
        assert ("broker" in cpu) == bool(e2e["broker_pids"])
    # the same tasks through a real consumer against an owner with no HTTP and no database
    assert list(e2e["design_floor"]) == ["seed", "throughput"]
    assert all(d["tasks"] == e2e["tasks"] for d in e2e["design_floor"].values())
    assert all(d["completed_per_s"] > 0 for d in e2e["design_floor"].values())
    # the consumers' wait for the owner's answers, read from their /metrics before they stop
    for measured in [*e2e["runs"].values(), *e2e["design_floor"].values()]:
        assert measured["owner_answer_ms"] > 0, measured
    assert "owner's answer to a report message" in done.stdout
    # the floor measured again after the end-to-end runs, to show how far the machine drifted
    assert results["floor_after_e2e"]["publish_per_s"] > 0
    assert "publish msg/s again, after the end-to-end runs" in done.stdout
    assert "design floor" in done.stdout
    assert [r["offered_per_s"] for r in results["open_loop"]["rates"]] == [250, 500, 1000]
    assert all(r["sent"] > 0 for r in results["open_loop"]["rates"])
    assert [r["procs"] for r in results["seed"]["runs"]] == [1, 2, 4]
    assert all(r["completed"] == r["tasks"] for r in results["seed"]["runs"])
    assert set(results["listing"]["pages"]) >= {"first page (status)", "deep page (status)"}
    assert len(results["memory"]["checkpoints"]) == 2
    assert set(results["memory"]["growth"]) == {"api", "consumer"}
    assert results["cluster"] == {"skipped": SKIPPED_QUICK}
    late = results["schedule"]
    assert late["started"] == late["tasks"] and late["early"] == 0
    priority = results["priority"]
    assert priority["started"] == priority["high_tasks"] > 0
    assert results["batch"]["accepted"] == results["batch"]["tasks"]

    # every target has a verdict, and the printed table carries each of them
    verdicts = {v["target"]: v for v in results["verdicts"]}
    assert set(verdicts) == {t.name for t in TARGETS}
    assert all(v["measured"] is not None for v in verdicts.values())
    assert all(v["result"] in {"PASS", "MISS"} for v in verdicts.values())
    for section in ("broker floor", "end to end", "open loop", "seed settings", "scale-out"):
        assert section in done.stdout
    for section in ("listing", "memory", CLUSTER, "9 priority", "10 batch", "11 delayed tasks"):
        assert section in done.stdout
    assert done.stdout.count("PASS") + done.stdout.count("MISS") >= len(TARGETS)

    # it removed what it made on the broker
    made = results["broker_space"]
    _assert_gone(broker, {made["vhost"]})
    assert not _queues_named(broker, made["queue_prefix"])


def test_the_id_comparison_runs_both_kinds_of_id_through_the_writes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.ids", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["uuid4", "uuid7", "uuid7 / uuid4"]
    assert all("200 tasks" in line for line in lines[:2])


def test_versus_summary_divides_each_side_by_its_rounds_floor() -> None:
    def run(rate: float) -> dict[str, Any]:
        return {"completed_per_s": rate}

    rounds = [
        {
            "floor_msg_per_s": 10_000.0,
            "seed": {"this": run(1_000), "other": run(2_000)},
            "throughput": {"this": run(3_000), "other": run(3_000)},
        },
        {
            "floor_msg_per_s": 5_000.0,
            "seed": {"this": run(1_000), "other": run(2_000)},
            "throughput": {"this": run(2_000), "other": run(1_000)},
        },
    ]
    got = versus.summary(rounds)
    assert got["seed"]["this_floor_ratio"] == (0.1, 0.2)
    assert got["seed"]["other_floor_ratio"] == (0.2, 0.4)
    assert got["seed"]["this_over_other"] == 0.5
    assert got["throughput"]["this_over_other"] == 1.25


def test_versus_refuses_a_folder_that_is_no_checkout(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.versus", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "holds no taskq checkout" in done.stderr


def test_versus_runs_two_checkouts_side_by_side_and_cleans_up(
    broker: Broker, tmp_path: Path
) -> None:
    """This checkout against a copy of its services, one small round: each side runs from its
    own tree, both complete every task, and the vhosts it made are gone."""
    other = tmp_path / "other"
    for package in ("services", "shared"):
        shutil.copytree(
            ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    args = ["--rounds", "1", "--tasks", "300", "--no-other-consumers-open-db", "--out"]
    command = [sys.executable, "-m", "bench.versus", str(other), *args, str(out)]
    command += ["--amqp-url", broker.amqp_url, "--mgmt-url", broker.mgmt_url]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    if done.returncode != 0 and wrk.MISSING in done.stderr:
        pytest.fail(wrk.MISSING, pytrace=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [json_path] = out.glob("versus-*.json")
    result = json.loads(json_path.read_text())
    [only] = result["rounds"]
    assert only["floor_msg_per_s"] > 0
    for setting in versus.SETTINGS:
        assert only[setting]["this"]["api_cwd"] == str(ROOT)
        assert only[setting]["other"]["api_cwd"] == str(other.resolve())
        for side in ("this", "other"):
            assert only[setting][side]["completed"] == 300, (setting, side)
            assert only[setting][side]["cpu_ms_per_task"]["api"] > 0
    assert set(result["summary"]) == set(versus.SETTINGS)
    assert "this ÷ other" in done.stdout
    runs = [only[setting][side] for setting in versus.SETTINGS for side in ("this", "other")]
    _assert_gone(broker, {result["floor_vhost"], *(run["vhost"] for run in runs)})

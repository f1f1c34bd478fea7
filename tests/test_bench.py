"""`python -m bench --quick` runs against the real broker, reports every section and target,
writes its JSON and PNG, and leaves no vhost behind. Speed is never checked here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import TARGETS
from tests.support.broker import Broker
from tests.support.processes import ROOT

pytestmark = pytest.mark.integration


def _bench_vhosts(broker: Broker) -> set[str]:
    with broker.api() as api:
        return {
            v["name"] for v in api.get("/api/vhosts").json() if v["name"].startswith("taskq-bench-")
        }


def test_quick_bench_reports_every_section(broker: Broker, tmp_path: Path) -> None:
    before = _bench_vhosts(broker)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env["TASKQ_BENCH_AMQP_URL"] = broker.amqp_url
    env["TASKQ_TEST_MGMT_URL"] = broker.mgmt_url
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
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
    assert e2e["status"] == {"202": e2e["tasks"]}
    assert e2e["completed"] == e2e["tasks"]
    assert [r["offered_per_s"] for r in results["open_loop"]["rates"]] == [250, 500, 1000]
    assert all(r["sent"] > 0 for r in results["open_loop"]["rates"])
    assert [r["procs"] for r in results["seed"]["runs"]] == [1, 2, 4]
    assert all(r["completed"] == r["tasks"] for r in results["seed"]["runs"])
    assert set(results["listing"]["pages"]) >= {"first page (status)", "deep page (status)"}
    assert len(results["memory"]["checkpoints"]) == 2
    assert set(results["memory"]["growth"]) == {"api", "consumer"}

    # every target has a verdict, and the printed table carries each of them
    verdicts = {v["target"]: v for v in results["verdicts"]}
    assert set(verdicts) == {t.name for t in TARGETS}
    assert all(v["measured"] is not None for v in verdicts.values())
    assert all(v["result"] in {"PASS", "MISS"} for v in verdicts.values())
    for section in ("broker floor", "end to end", "open loop", "seed settings", "scale-out"):
        assert section in done.stdout
    for section in ("listing", "memory"):
        assert section in done.stdout
    assert done.stdout.count("PASS") + done.stdout.count("MISS") >= len(TARGETS)

    # it removed what it made on the broker
    assert _bench_vhosts(broker) <= before
    with broker.api() as api:
        left = [q["name"] for q in api.get("/api/queues").json()]
    assert not [name for name in left if re.fullmatch(r"bench[0-9a-f]{8}-.*", name)]

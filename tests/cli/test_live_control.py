"""`taskq cancel`, `taskq submit --file/--count` (batches) and `taskq get --watch` against real
API and consumer processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Taskq
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_file_count_cancel_and_watch(live: Taskq, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    lines = [json.dumps({"action": "sum", "data": {"numbers": [n, 1]}}) for n in range(1500)]
    lines.insert(3, "")  # blank lines are skipped
    tasks.write_text("\n".join(lines) + "\n")
    submitted = live("submit", "--file", str(tasks), "--json")
    assert submitted.exit_code == 0, submitted.output
    ids = json.loads(submitted.stdout)["ids"]
    assert len(ids) == 1500 == len(set(ids))
    assert "1500/1500" in submitted.stderr  # the progress bar

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"action": "sum"}\n[1]\n')
    refused = live("submit", "--file", str(bad))
    assert refused.exit_code == 2
    assert "line 2" in refused.output

    counted = live("submit", "sum", "-d", '{"numbers": [2]}', "--count", "3", "--json")
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout) == {"completed": 3}

    # a running sleep, cancelled by id; then get --watch follows it to its end
    started = live("submit", "sleep", "-d", '{"seconds": 60}', "--json")
    sleeper = json.loads(started.stdout)["id"]
    wait_until(
        lambda: json.loads(live("get", sleeper, "--json").stdout)["status"] == "running",
        30,
        "the sleep to start",
        every=0.1,
    )
    cancelled = live("cancel", sleeper)
    assert cancelled.exit_code == 0, cancelled.output
    assert "told to stop" in cancelled.stdout
    watched = live("get", sleeper, "--watch", "--json")
    assert watched.exit_code == 0, watched.output
    assert json.loads(watched.stdout)["status"] == "cancelled"
    again = live("cancel", sleeper)
    assert again.exit_code == 1
    assert "409" in again.output

    # progress: `count` reports it, get --watch draws it and ends with the result
    counter = json.loads(live("submit", "count", "-d", '{"to": 5}', "--json").stdout)["id"]
    followed = live("get", counter, "--watch")
    assert followed.exit_code == 0, followed.output
    assert "completed" in followed.stdout
    assert "100%" in followed.stderr

    urgent = json.loads(
        live("submit", "sum", "-d", '{"numbers": [9]}', "-p", "high", "--json").stdout
    )
    lane = json.loads(live("list", "--priority", "high", "--json").stdout)
    assert [t["id"] for t in lane] == [urgent["id"]]

    many = live("cancel", "--status", "queued", "--action", "nothing-queued")
    assert many.exit_code == 0, many.output
    assert "cancelled 0" in many.stdout
    assert live("cancel").exit_code == 2

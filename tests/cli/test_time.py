"""`taskq` and time: durations, `submit --delay/--at/--timeout`, `delete`, and
`taskq schedules list/add/pause/resume/rm` against real API and consumer processes."""

from __future__ import annotations

import json

import pytest

from services.cli.durations import seconds
from tests.cli.conftest import Taskq
from tests.cli.test_live import WAIT, final


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("30s", 30), ("5m", 300), ("1.5h", 5400), ("2d", 172800), ("250ms", 0.25), ("90", 90)],
)
def test_durations(raw: str, expected: float) -> None:
    assert seconds(raw) == expected


@pytest.mark.parametrize("raw", ["", "soon", "5 minutes", "-5s", "0s", "1e3"])
def test_bad_durations(raw: str) -> None:
    with pytest.raises(ValueError):
        seconds(raw)


@pytest.mark.integration
def test_submit_later_with_a_time_limit_then_delete(live: Taskq) -> None:
    later = live("submit", "sum", "-d", '{"numbers": [4]}', "--delay", "1s", "--timeout", "10s")
    assert later.exit_code == 0, later.output
    task_id, status = later.stdout.split()
    assert status == "scheduled"
    task = final(live, task_id)
    assert task["status"] == "completed" and task["timeout_s"] == 10
    assert task["started_at"] >= task["run_at"]

    at = live("submit", "sum", "--at", "2001-01-01T00:00:00Z", *WAIT, "--json")
    assert at.exit_code == 0, at.output
    assert json.loads(at.stdout)["status"] == "completed"

    assert live("delete", task_id).stdout == f"deleted {task_id}\n"
    gone = live("get", task_id)
    assert (gone.exit_code, gone.stderr) == (1, "error: 404 task not found\n")
    both = live("submit", "sum", "--delay", "1s", "--at", "2030-01-01T00:00:00Z")
    assert both.exit_code == 2


@pytest.mark.integration
def test_schedules_add_list_pause_resume_rm(live: Taskq) -> None:
    added = live(
        "schedules",
        "add",
        "nightly",
        "sum",
        "--cron",
        "0 3 * * *",
        "--tz",
        "Europe/Berlin",
        "--json",
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["timezone"] == "Europe/Berlin"
    every = live("schedules", "add", "often", "uppercase", "--every", "1h", "-d", '{"text": "x"}')
    assert every.exit_code == 0, every.output

    listed = [line.split("\t") for line in live("schedules", "list").stdout.splitlines()]
    assert listed[0][:3] == ["name", "action", "when"]
    assert [row[:4] for row in listed[1:]] == [
        ["nightly", "sum", "0 3 * * * (Europe/Berlin)", "true"],
        ["often", "uppercase", "every 3600s", "true"],
    ]
    paused = json.loads(live("schedules", "pause", "nightly", "--json").stdout)
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)
    resumed = json.loads(live("schedules", "resume", "nightly", "--json").stdout)
    assert resumed["enabled"] is True and resumed["next_run_at"] is not None

    assert live("schedules", "rm", "often").exit_code == 0
    names = [s["name"] for s in json.loads(live("schedules", "list", "--json").stdout)]
    assert names == ["nightly"]
    missing = live("schedules", "rm", "often")
    assert (missing.exit_code, missing.stderr) == (1, "error: 404 schedule not found\n")
    bad = live("schedules", "add", "x", "sum", "--cron", "99 * * * *")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: 422 bad cron expression")

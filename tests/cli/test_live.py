"""`taskq` against real API and consumer processes: submit, get, list, retry and stats."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.names import FINAL_STATUSES
from tests.cli.conftest import TOKEN, Taskq, runner
from tests.support.processes import Stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

WAIT = ("--wait", "--wait-timeout", "60")


def final(taskq: Taskq, task_id: str) -> dict[str, Any]:
    """The task as `taskq get` shows it once it is final."""

    def check() -> dict[str, Any] | None:
        task: dict[str, Any] = json.loads(taskq("get", task_id, "--json").stdout)
        return task if task["status"] in FINAL_STATUSES else None

    return wait_until(check, 60, f"task {task_id} to be final", every=0.1)


def test_submit_wait_get_list_stats(live: Taskq) -> None:
    done = live("submit", "uppercase", "--data", '{"text": "hello cli"}', *WAIT, "--json")
    assert done.exit_code == 0, done.output
    task = json.loads(done.stdout)
    assert task["status"] == "completed"
    assert task["result"] == {"output": "HELLO CLI"}

    shown = live("submit", "sum", "-d", '{"numbers": [1, 2, 3.5]}', *WAIT)
    assert shown.exit_code == 0, shown.output
    assert "completed" in shown.stdout and "6.5" in shown.stdout

    got = live("get", task["id"], "--json")
    assert got.exit_code == 0
    assert json.loads(got.stdout) == task
    assert "HELLO CLI" in live("get", task["id"]).stdout

    listed = live("list", "--status", "completed", "--action", "uppercase", "--json")
    assert [t["id"] for t in json.loads(listed.stdout)] == [task["id"]]
    piped = live("list", "--limit", "5")  # CliRunner's stdout is no terminal
    assert piped.exit_code == 0
    lines = [line.split("\t") for line in piped.stdout.splitlines()]
    assert lines[0] == ["id", "action", "status", "tries", "created"]
    assert [task["id"], "uppercase", "completed", "1", task["created_at"]] in lines

    stats = live("stats", "--json")
    assert stats.exit_code == 0
    assert json.loads(stats.stdout)["counts"]["completed"] == 2
    numbers = [line.split("\t") for line in live("stats").stdout.splitlines()]
    assert ["tasks", "completed", "2"] in numbers
    assert any(row[0] == "queue" for row in numbers)


def test_options_after_the_command_reach_the_api(live: Taskq, stack: Stack) -> None:
    """Issue 10: `taskq list --url ... --token ...`, the way people type it."""
    task = json.loads(live("submit", "uppercase", *WAIT, "--json").stdout)
    nowhere = runner("http://127.0.0.1:9", None)
    listed = nowhere("list", "--url", stack.api_url(), "--token", TOKEN, "--json")
    assert listed.exit_code == 0, listed.output
    assert [t["id"] for t in json.loads(listed.stdout)] == [task["id"]]
    got = nowhere(
        "--url", "http://127.0.0.1:9", "get", task["id"], "--url", stack.api_url(), "--token", TOKEN
    )
    assert got.exit_code == 0, got.output
    assert ["status", "completed"] in [line.split("\t") for line in got.stdout.splitlines()]


def test_submit_without_wait_and_idempotency_key(live: Taskq) -> None:
    first = live("submit", "uppercase", "--idempotency-key", "order-7", "--json")
    again = live("submit", "uppercase", "--idempotency-key", "order-7", "--json")
    assert first.exit_code == again.exit_code == 0
    assert json.loads(first.stdout)["id"] == json.loads(again.stdout)["id"]
    plain = live("submit", "uppercase")
    task_id, status = plain.stdout.split()
    assert status == "queued"
    assert final(live, task_id)["status"] == "completed"


def test_a_failed_task_exits_1_and_retry_puts_it_back(live: Taskq) -> None:
    failed = live("submit", "fail", "--data", '{"message": "no luck"}', *WAIT, "--json")
    assert failed.exit_code == 1
    task = json.loads(failed.stdout)
    assert task["status"] == "failed"
    assert task["error"] == "no luck"
    assert task["attempts"] == 1

    retried = live("retry", task["id"])
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.split() == [task["id"], "queued"]
    again = final(live, task["id"])
    assert again["status"] == "failed"  # it fails every time; what matters is that it ran again
    assert again["processed_at"] > task["processed_at"]

    done = json.loads(live("submit", "uppercase", *WAIT, "--json").stdout)
    refused = live("retry", done["id"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: 409 only failed tasks can be retried")


def test_bulk_retry_of_one_action(live: Taskq) -> None:
    ids = [json.loads(live("submit", "fail", *WAIT, "--json").stdout)["id"] for _ in range(2)]
    other = json.loads(live("submit", "fail", "-d", '{"message": "x"}', *WAIT, "--json").stdout)
    assert live("retry", "--status", "failed", "--action", "nothing-failed-here").stdout == (
        "retried 0 failed tasks\n"
    )
    replayed = live("retry", "--status", "failed", "--action", "fail", "--json")
    assert replayed.exit_code == 0
    assert json.loads(replayed.stdout) == {"retried": 3, "more": False}
    for task_id in [*ids, other["id"]]:
        assert final(live, task_id)["processed_at"] is not None


def test_count_follows_every_task_to_the_end(live: Taskq) -> None:
    ok = live("submit", "uppercase", "--count", "12", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {"completed": 12}
    some_failed = live("submit", "fail", "--count", "3", "--json")
    assert some_failed.exit_code == 1
    assert json.loads(some_failed.stdout) == {"failed": 3}


def test_api_errors_are_one_line_and_exit_1(live: Taskq, stack: Stack) -> None:
    missing = live("get", "3f2a0000-0000-4000-8000-000000000000")
    assert (missing.exit_code, missing.stderr) == (1, "error: 404 task not found\n")
    refused = live("submit", "sum", "--data", '{"numbers": "1, 2"}')
    assert (refused.exit_code, refused.stderr) == (
        1,
        "error: 422 data.numbers must be a list of numbers\n",
    )
    no_token = runner(stack.api_url(), None)("stats")
    assert no_token.exit_code == 1
    assert no_token.stderr.startswith("error: 401 missing or invalid bearer token")


def test_watch_redraws_until_ctrl_c(live: Taskq, monkeypatch: pytest.MonkeyPatch) -> None:
    done = json.loads(live("submit", "uppercase", *WAIT, "--json").stdout)
    ticks = []

    def sleep(seconds: float) -> None:
        ticks.append(seconds)
        if len(ticks) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("services.cli.main.time.sleep", sleep)
    monkeypatch.setattr("services.cli.main.terminal", lambda: True)
    watched = live("list", "--watch")
    assert watched.exit_code == 0
    assert done["id"] in watched.stdout
    assert "Ctrl-C to stop" in watched.stdout

"""`taskq` without a real API: usage errors exit 2, an unreachable API exits 1 in one line, the
global options work before or after the command, and piped output is whole and tab-separated."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from rich.console import Console

from services.cli.render import task_table
from tests.cli.conftest import Taskq, runner
from tests.cli.stub_api import FAILED_TASK, LONG_ACTION, LONG_QUEUE, STATS, TASK, TASK_ID, StubApi
from tests.support.processes import ROOT, free_port, refused_port


@pytest.fixture
def taskq() -> Iterator[Taskq]:
    with refused_port() as port:
        yield runner(f"http://127.0.0.1:{port}", None)


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["get", "3f2a0000-0000-4000-8000-000000000000"],
        ["submit", "uppercase", "--wait"],
        ["list"],
        ["retry", "--status", "failed"],
    ],
)
def test_unreachable_api_is_one_line_and_exit_1(taskq: Taskq, args: list[str]) -> None:
    result = taskq(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot reach the taskq API at http://127.0.0.1:")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["submit"],
        ["submit", "sum", "--data", "[1, 2]"],
        ["submit", "sum", "--data", "{not json"],
        ["submit", "sum", "--count", "0"],
        ["submit", "sum", "--count", "3", "--idempotency-key", "k"],
        ["list", "--status", "done"],
        ["list", "--limit", "0"],
        ["list", "--watch", "--json"],
        ["--json", "list", "--watch"],
        ["list", "--url"],
        ["retry"],
        ["retry", "3f2a0000-0000-4000-8000-000000000000", "--status", "failed"],
        ["retry", "--status", "completed"],
        ["retry", "3f2a0000-0000-4000-8000-000000000000", "--action", "sum"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2_without_calling_the_api(
    taskq: Taskq, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def sleep(seconds: float) -> None:
        raise AssertionError("a usage error must not start waiting or watching")

    monkeypatch.setattr("services.cli.main.time.sleep", sleep)
    result = taskq(*args)
    assert result.exit_code == 2, result.output
    assert "cannot reach" not in result.output


COMMANDS = {
    "submit": ["submit", "uppercase"],
    "submit --wait": ["submit", "uppercase", "--wait"],
    "submit --count": ["submit", "uppercase", "--count", "2"],
    "get": ["get", TASK_ID],
    "list": ["list"],
    "retry ID": ["retry", TASK_ID],
    "retry --status": ["retry", "--status", "failed"],
    "stats": ["stats"],
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=list(COMMANDS))
@pytest.mark.parametrize("where", ["after", "before", "both", "env"])
def test_global_options_go_before_or_after_the_command(
    api: StubApi, where: str, command: list[str]
) -> None:
    """`taskq list --url U` as people type it; given twice, the one after the command wins."""
    elsewhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: using it exits 1
    before = {
        "before": ["--url", api.url, "--token", "before", "--json"],
        "both": ["--url", elsewhere, "--token", "before", "--json"],
    }.get(where, [])
    after = {
        "after": ["--url", api.url, "--token", "after", "--json"],
        "both": ["--url", api.url, "--token", "after"],
        "env": ["--json"],
    }.get(where, [])
    taskq = runner(api.url if where == "env" else elsewhere, "from-env")

    result = taskq(*before, *command, *after)

    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    token = {"after": "after", "before": "before", "both": "after", "env": "from-env"}[where]
    assert api.seen
    assert {authorization for *_, authorization in api.seen} == {f"Bearer {token}"}


def rows(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines()]


def test_piped_list_prints_whole_values_tab_separated(api: StubApi) -> None:
    result = runner(api.url, None)("list")
    assert result.exit_code == 0, result.output
    header, row = rows(result.stdout)
    assert header == ["id", "action", "status", "tries", "created"]
    assert row == [TASK_ID, LONG_ACTION, "completed", "1", TASK["created_at"]]
    assert "…" not in result.stdout


def test_list_through_a_real_pipe_can_be_grepped_and_cut(api: StubApi) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "services.cli", "list", "--url", api.url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=plain_env(),
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    grepped = [line for line in listed.stdout.splitlines() if "uppercase" in line]
    assert [line.split("\t")[1] for line in grepped] == [LONG_ACTION]  # grep | cut -f2


def test_on_a_terminal_list_draws_the_table(api: StubApi) -> None:
    primary, secondary = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "services.cli", "list", "--url", api.url],
        stdout=secondary,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=plain_env(COLUMNS="100"),
    ) as shown:
        os.close(secondary)
        screen = b""
        while chunk := read_terminal(primary):
            screen += chunk
        _, stderr = shown.communicate(timeout=60)
    os.close(primary)
    assert shown.returncode == 0, stderr
    text = screen.decode()
    assert TASK_ID in text and "completed" in text
    # cut to fit, with …; how much fits depends on the day: a task of another day shows its date
    assert LONG_ACTION[:15] in text and LONG_ACTION not in text
    assert "…" in text and "\t" not in text


@pytest.mark.parametrize("created_at", ["today", TASK["created_at"]])
def test_the_id_stays_whole_whatever_the_day(created_at: str) -> None:
    # today's tasks show the time of day, older ones their date too: the action gives way
    if created_at == "today":
        created_at = datetime.now(UTC).isoformat()
    console = Console(width=100, record=True, color_system=None)
    console.print(task_table([TASK | {"created_at": created_at}], console.width))
    row = next(line for line in console.export_text().splitlines() if TASK_ID in line)
    assert "…" in row and LONG_ACTION[:15] in row
    assert len(row.rstrip()) <= 100


def read_terminal(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: every writer closed the terminal
        return b""


def plain_env(**extra: str) -> dict[str, str]:
    """This environment without what would change the output: TASKQ_*, FORCE_COLOR and the like."""
    dropped = ("TASKQ_", "FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "COLUMNS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return env | extra


def test_piped_get_prints_every_field_whole_one_per_line(api: StubApi) -> None:
    api.tasks[0] = FAILED_TASK
    result = runner(api.url, None)("get", TASK_ID)
    assert result.exit_code == 0, result.output
    header, *lines = rows(result.stdout)
    assert header == ["field", "value"]
    assert all(len(line) == 2 for line in lines)
    fields = dict(lines)
    assert fields["action"] == LONG_ACTION
    assert fields["status"] == "failed"
    assert json.loads(fields["data"]) == FAILED_TASK["data"]
    assert fields["result"] == ""
    # a tab or line break inside a value would split it; each becomes a space
    assert fields["error"] == FAILED_TASK["error"].replace("\t", " ").replace("\n", " ")


def test_piped_stats_is_one_table_of_numbers(api: StubApi) -> None:
    result = runner(api.url, None)("stats")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    per_minute = [p["count"] for p in STATS["completed_per_minute"]]
    assert table == [
        ["kind", "name", "value"],
        *(["tasks", name, str(n)] for name, n in STATS["counts"].items()),
        ["tasks", "total", "10"],
        ["queue", "taskq.tasks", "1"],
        ["queue", LONG_QUEUE, "0"],
        ["completed", "last_hour", str(sum(per_minute))],
        ["completed", "this_minute", str(per_minute[-1])],
    ]


def test_piped_watch_prints_the_tasks_then_a_line_per_change(
    api: StubApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks: list[float] = []

    def sleep(seconds: float) -> None:
        ticks.append(seconds)
        if len(ticks) == 1:
            api.tasks[0] = {**TASK, "status": "running"}
        if len(ticks) == 3:  # the second tick changed nothing
            raise KeyboardInterrupt

    monkeypatch.setattr("services.cli.main.time.sleep", sleep)
    result = runner(api.url, None)("list", "--watch")
    assert result.exit_code == 0, result.output
    assert [(row[0], row[2]) for row in rows(result.stdout)] == [
        ("id", "status"),
        (TASK_ID, "completed"),
        (TASK_ID, "running"),
    ]

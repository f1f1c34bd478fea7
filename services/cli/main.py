"""The `taskq` commands. Exit codes: 0 ok, 1 an API error or a failed task, 2 a usage error."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec

import orjson
import typer
from rich.console import Console, RenderableType

from services.cli import render, schedules
from services.cli.batches import BadLine, read_jsonl, submit_all
from services.cli.client import FINAL, ApiError, Client, Task
from services.cli.durations import duration_option
from services.cli.follow import submit_and_follow
from services.cli.follow_one import follow
from services.cli.options import Options, accepts_options
from services.cli.watch import print_changes, redraw
from shared.names import Priority, Status

WAIT_POLL_S = 0.25

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
P = ParamSpec("P")


class Failed(Exception):
    """A followed task ended `failed` (exit code 1, no error line: the output said so)."""


def handled(command: Callable[P, None]) -> Callable[P, None]:
    """Turns the errors every command can meet into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def run_command(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except ApiError as exc:
            err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(1) from None
        except Failed:
            raise typer.Exit(1) from None

    return run_command


app = typer.Typer(
    name="taskq",
    help="Submit, inspect and retry taskq tasks from the command line.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
@accepts_options
def main(options: Options) -> None:
    """Keeps the global options typed before the command's name (`accepts_options` does it)."""


def command(
    name: str | None = None,
) -> Callable[[Callable[Concatenate[Options, P], None]], Callable[P, None]]:
    """Registers a command that takes the global options after its name too, and handles errors."""

    def register(function: Callable[Concatenate[Options, P], None]) -> Callable[P, None]:
        registered = handled(accepts_options(function))
        app.command(name)(registered)
        return registered

    return register


def terminal() -> bool:
    """People read a terminal: draw tables. Piped or redirected: whole values, tab-separated."""
    return sys.stdout.isatty()


def show(payload: Any, options: Options, view: RenderableType, rows: render.Rows) -> None:
    if options.json:
        emit_json(payload)
    elif terminal():
        out.print(view)
    else:
        typer.echo(render.tsv(rows))


def emit_json(payload: Any) -> None:
    typer.echo(render.as_json(payload))


def parse_data(raw: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--data")
    return data


def wait_final(client: Client, task_id: str, timeout: float | None) -> Task:
    deadline = None if timeout is None else time.monotonic() + timeout
    with err.status(f"waiting for {task_id}…"):
        while True:
            task = client.get(task_id)
            if task["status"] in FINAL:
                return task
            if deadline is not None and time.monotonic() > deadline:
                raise ApiError(f"task {task_id} is still {task['status']} after {timeout:g}s")
            time.sleep(WAIT_POLL_S)


def show_task(task: Task, options: Options) -> None:
    show(task, options, render.task_detail(task), render.detail_rows(task))


@command()
def submit(
    options: Options,
    action: Annotated[
        str | None, typer.Argument(help="The action to run, e.g. uppercase.", show_default=False)
    ] = None,
    data: Annotated[
        str, typer.Option("--data", "-d", help="The task's data, a JSON object.")
    ] = "{}",
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait for the result.")] = False,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Submit at most once per key.")
    ] = None,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, help="Submit N tasks and follow them.")
    ] = 1,
    wait_timeout: Annotated[
        float | None,
        typer.Option("--wait-timeout", min=0, help="With --wait: give up after S seconds."),
    ] = None,
    delay: Annotated[
        str | None, typer.Option("--delay", help="Run it later: 30s, 5m, 2h, 1d.")
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="Run it at this RFC 3339 time.")] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Time limit of each attempt: 30s, 10m.")
    ] = None,
    priority: Annotated[
        Priority, typer.Option("--priority", "-p", help="high: the lane that jumps the backlog.")
    ] = Priority.NORMAL,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            exists=True,
            dir_okay=False,
            help="Submit every task of a JSON-lines file.",
        ),
    ] = None,
) -> None:
    """Submit a task (or --count N of them, or a --file of them, in batches of 1,000), now or
    later (--delay, --at)."""
    if file is not None:
        if action is not None or count > 1 or wait or idempotency_key:
            raise typer.BadParameter("takes no ACTION, --count, --wait or key", param_hint="--file")
        submit_file(options, file)
        return
    if action is None:
        raise typer.BadParameter("give the ACTION to run (or --file)")
    payload = parse_data(data)
    if delay is not None and at is not None:
        raise typer.BadParameter("give --delay or --at, not both", param_hint="--delay")
    timing = {
        "delay_s": duration_option(delay, "--delay"),
        "run_at": at,
        "timeout_s": duration_option(timeout, "--timeout"),
    }
    if count > 1:
        if any(timing.values()):
            raise typer.BadParameter("--count submits now, without --delay, --at or --timeout")
        if idempotency_key:
            raise typer.BadParameter("one key names one task", param_hint="--idempotency-key")
        outcome = asyncio.run(
            submit_and_follow(
                options.url, options.token, action, payload, count, err, priority.value
            )
        )
        if options.json:
            emit_json(dict(outcome))
        else:
            out.print(", ".join(f"{n} {s}" for s, n in sorted(outcome.items())))
        if outcome[Status.FAILED]:
            raise Failed
        return
    with options.client() as client:
        accepted = client.submit(action, payload, idempotency_key, priority.value, **timing)
        if not wait:
            if options.json:
                emit_json(accepted)
            else:
                out.print(f"{accepted['id']} {accepted['status']}")
            return
        task = wait_final(client, accepted["id"], wait_timeout)
    show_task(task, options)
    if task["status"] == Status.FAILED:
        raise Failed


def submit_file(options: Options, path: Path) -> None:
    try:
        tasks = read_jsonl(path)
    except (BadLine, OSError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--file") from None
    if not tasks:
        raise typer.BadParameter("holds no task", param_hint="--file")
    ids = submit_all(options.url, options.token, tasks, err)
    if options.json:
        emit_json({"ids": ids, "count": len(ids)})
    else:
        out.print(f"queued {len(ids)} task{'' if len(ids) == 1 else 's'}")


@command()
def get(
    options: Options,
    task_id: Annotated[str, typer.Argument(metavar="ID", help="The task's id.")],
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow it to its end, with its progress.")
    ] = False,
) -> None:
    """Show one task with its data, result and error (--watch: follow it to its end)."""
    with options.client() as client:
        task = follow(client, task_id, err) if watch else client.get(task_id)
    show_task(task, options)


@command("list")
def list_tasks(
    options: Options,
    status: Annotated[
        Status | None, typer.Option("--status", "-s", help="Only this status.")
    ] = None,
    action: Annotated[str | None, typer.Option("--action", "-a", help="Only this action.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, max=1000)] = 20,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh every 2 s until Ctrl-C.")] = False,
    priority: Annotated[
        Priority | None, typer.Option("--priority", "-p", help="Only this lane.")
    ] = None,
) -> None:
    """List tasks, newest first."""
    if watch and options.json:
        raise typer.BadParameter("--watch prints no JSON; leave out --json", param_hint="--watch")
    status_value = status.value if status is not None else None
    with options.client() as client:

        def fetch() -> list[Task]:
            lane = priority.value if priority is not None else None
            tasks: list[Task] = client.list(status_value, action, limit, lane)["tasks"]
            return tasks

        if not watch:
            tasks = fetch()
            show(tasks, options, render.task_table(tasks, out.width), render.task_rows(tasks))
            return
        try:
            if terminal():
                redraw(fetch, out)
            else:
                print_changes(fetch, err)
        except KeyboardInterrupt:
            pass


@command()
def retry(
    options: Options,
    task_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="A failed task.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="`failed`: retry every failed task.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", "-a", help="With --status: only this action.")
    ] = None,
) -> None:
    """Put a failed task back in the queue, or all of them with --status failed."""
    if (task_id is None) == (status is None):
        raise typer.BadParameter("give a task ID or --status failed (not both)")
    if status is not None and status != Status.FAILED:
        raise typer.BadParameter("only failed tasks can be retried", param_hint="--status")
    if task_id is not None and action is not None:
        raise typer.BadParameter("goes with --status failed", param_hint="--action")
    with options.client() as client:
        if task_id is not None:
            accepted = client.retry(task_id)
            if options.json:
                emit_json(accepted)
            else:
                out.print(f"{accepted['id']} {accepted['status']}")
            return
        replayed = client.retry_failed(action)
    if options.json:
        emit_json(replayed)
        return
    retried = replayed["retried"]
    out.print(f"retried {retried} failed task{'' if retried == 1 else 's'}")
    if replayed["more"]:
        out.print("more failed tasks are left: run it again")


@command()
def cancel(
    options: Options,
    task_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="The task.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Cancel every task in this status (scheduled, queued, retrying, running).",
        ),
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", "-a", help="Cancel every task of this action.")
    ] = None,
) -> None:
    """Cancel a task, or many with --status and/or --action."""
    if (task_id is None) == (status is None and action is None):
        raise typer.BadParameter("give a task ID or --status/--action (not both)")
    with options.client() as client:
        if task_id is not None:
            answer = client.cancel(task_id)
            if options.json:
                emit_json(answer)
            elif answer.get("cancel_requested"):
                out.print(f"{answer['id']} running: its consumer was told to stop it")
            else:
                out.print(f"{answer['id']} {answer['status']}")
            return
        counted = client.cancel_many(status, action)
    if options.json:
        emit_json(counted)
        return
    out.print(
        f"cancelled {counted['cancelled']}, asked {counted['cancel_requested']} running"
        f" task{'' if counted['cancel_requested'] == 1 else 's'} to stop"
    )
    if counted["more"]:
        out.print("more tasks match: run it again")


@command()
def stats(options: Options) -> None:
    """Counts per status, queue depths and completions over the last hour."""
    with options.client() as client:
        numbers = client.stats()
    show(numbers, options, render.stats_view(numbers), render.stats_rows(numbers))
    if numbers["queues"] is None and not options.json and not terminal():
        err.print("no queue depths: the broker is unavailable")


@command()
def delete(
    options: Options,
    task_id: Annotated[str, typer.Argument(metavar="ID", help="A completed or failed task.")],
) -> None:
    """Delete a completed or failed task, with its dead letters."""
    with options.client() as client:
        client.delete(task_id)
    if not options.json:
        out.print(f"deleted {task_id}")


schedules_app = typer.Typer(
    name="schedules",
    help="Recurring schedules: list, add, pause, resume, rm.",
    no_args_is_help=True,
)
app.add_typer(schedules_app)
schedules_app.command("list")(handled(accepts_options(schedules.list_schedules)))
schedules_app.command("add")(handled(accepts_options(schedules.add)))
schedules_app.command("pause")(handled(accepts_options(schedules.pause)))
schedules_app.command("resume")(handled(accepts_options(schedules.resume)))
schedules_app.command("rm")(handled(accepts_options(schedules.rm)))


def run() -> None:
    """Console entry point (`taskq`)."""
    app()

"""The `taskq` commands. Exit codes: 0 ok, 1 an API error or a failed task, 2 a usage error."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec

import orjson
import typer
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from services.cli import render
from services.cli.client import FINAL, ApiError, Client
from services.cli.follow import submit_and_follow
from shared.names import Status

DEFAULT_URL = "http://localhost:8080"
WAIT_POLL_S = 0.25
WATCH_S = 2.0

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


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
P = ParamSpec("P")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None

    def client(self) -> Client:
        return Client(self.url, self.token)


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="TASKQ_URL", help="Base URL of the taskq API.")
    ] = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="TASKQ_API_TOKEN", help="Bearer token, if the API has one."),
    ] = None,
) -> None:
    ctx.obj = Target(url, token or None)


def target(ctx: typer.Context) -> Target:
    found = ctx.find_object(Target)
    assert found is not None
    return found


def parse_data(raw: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--data")
    return data


def wait_final(client: Client, task_id: str, timeout: float | None) -> dict[str, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    with err.status(f"waiting for {task_id}…"):
        while True:
            task = client.get(task_id)
            if task["status"] in FINAL:
                return task
            if deadline is not None and time.monotonic() > deadline:
                raise ApiError(f"task {task_id} is still {task['status']} after {timeout:g}s")
            time.sleep(WAIT_POLL_S)


@app.command()
@handled
def submit(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="The action to run, e.g. uppercase.")],
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
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="With --wait: give up after S.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Submit a task (or --count N of them)."""
    payload = parse_data(data)
    where = target(ctx)
    if count > 1:
        if idempotency_key:
            raise typer.BadParameter("one key names one task", param_hint="--idempotency-key")
        outcome = asyncio.run(
            submit_and_follow(where.url, where.token, action, payload, count, err)
        )
        if json:
            emit_json(dict(outcome))
        else:
            out.print(", ".join(f"{n} {s}" for s, n in sorted(outcome.items())))
        if outcome[Status.FAILED]:
            raise Failed
        return
    with where.client() as client:
        accepted = client.submit(action, payload, idempotency_key)
        if not wait:
            if json:
                emit_json(accepted)
            else:
                out.print(f"{accepted['id']} {accepted['status']}")
            return
        task = wait_final(client, accepted["id"], timeout)
    show_task(task, json)
    if task["status"] == Status.FAILED:
        raise Failed


def show_task(task: dict[str, Any], json: bool) -> None:
    if json:
        emit_json(task)
    else:
        out.print(render.task_detail(task))


@app.command()
@handled
def get(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="ID", help="The task's id.")],
    json: JsonOption = False,
) -> None:
    """Show one task with its data, result and error."""
    with target(ctx).client() as client:
        show_task(client.get(task_id), json)


@app.command("list")
@handled
def list_tasks(
    ctx: typer.Context,
    status: Annotated[
        Status | None, typer.Option("--status", "-s", help="Only this status.")
    ] = None,
    action: Annotated[str | None, typer.Option("--action", "-a", help="Only this action.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, max=1000)] = 20,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh every 2 s until Ctrl-C.")] = False,
    json: JsonOption = False,
) -> None:
    """List tasks, newest first."""
    if watch and json:
        raise typer.BadParameter(
            "--watch shows a live table; leave out --json", param_hint="--watch"
        )
    status_value = status.value if status is not None else None
    with target(ctx).client() as client:
        if json:
            emit_json(client.list(status_value, action, limit)["tasks"])
            return
        if not watch:
            out.print(
                render.task_table(client.list(status_value, action, limit)["tasks"], out.width)
            )
            return

        def frame() -> RenderableType:
            try:
                tasks = client.list(status_value, action, limit)["tasks"]
            except ApiError as exc:
                return Text(f"error: {exc}", style="red")
            title = f"taskq · {len(tasks)} tasks · {time.strftime('%H:%M:%S')} · Ctrl-C to stop"
            return render.task_table(tasks, out.width, title)

        try:
            with Live(frame(), console=out, auto_refresh=False) as live:
                while True:
                    time.sleep(WATCH_S)
                    live.update(frame(), refresh=True)
        except KeyboardInterrupt:
            pass


@app.command()
@handled
def retry(
    ctx: typer.Context,
    task_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="A failed task.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="`failed`: retry every failed task.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", "-a", help="With --status: only this action.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Put a failed task back in the queue, or all of them with --status failed."""
    if (task_id is None) == (status is None):
        raise typer.BadParameter("give a task ID or --status failed (not both)")
    if status is not None and status != Status.FAILED:
        raise typer.BadParameter("only failed tasks can be retried", param_hint="--status")
    if task_id is not None and action is not None:
        raise typer.BadParameter("goes with --status failed", param_hint="--action")
    with target(ctx).client() as client:
        if task_id is not None:
            accepted = client.retry(task_id)
            if json:
                emit_json(accepted)
            else:
                out.print(f"{accepted['id']} {accepted['status']}")
            return
        replayed = client.retry_failed(action)
    if json:
        emit_json(replayed)
        return
    retried = replayed["retried"]
    out.print(f"retried {retried} failed task{'' if retried == 1 else 's'}")
    if replayed["more"]:
        out.print("more failed tasks are left: run it again")


@app.command()
@handled
def stats(ctx: typer.Context, json: JsonOption = False) -> None:
    """Counts per status, queue depths and completions over the last hour."""
    with target(ctx).client() as client:
        numbers = client.stats()
    if json:
        emit_json(numbers)
    else:
        out.print(render.stats_view(numbers))


def emit_json(payload: Any) -> None:
    typer.echo(render.as_json(payload))


def run() -> None:
    """Console entry point (`taskq`)."""
    app()

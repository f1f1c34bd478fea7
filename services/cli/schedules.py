"""`taskq schedules list/add/pause/resume/rm`: recurring schedules from the command line.

The commands are plain functions; main.py registers them under `taskq schedules` with the
global options and the error handling every command gets."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from services.cli import render
from services.cli.durations import duration_option
from services.cli.options import Options

out = Console(highlight=False)

Name = Annotated[str, typer.Argument(help="The schedule's name.")]


def schedule_table(schedules: list[dict[str, Any]]) -> Table:
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "action", "when", "next run", "last run", "last task"):
        table.add_column(column, no_wrap=True)
    for s in schedules:
        table.add_row(
            s["name"],
            s["action"],
            _when(s),
            render.short_when(s["next_run_at"]) if s["enabled"] else "paused",
            render.short_when(s["last_run_at"]),
            s["last_task_id"] or "—",
        )
    if not schedules:
        table.caption = "no schedules"
    return table


def _when(schedule: dict[str, Any]) -> str:
    if schedule["cron"] is not None:
        return f"{schedule['cron']} ({schedule['timezone']})"
    return f"every {schedule['every_s']:g}s"


def schedule_rows(schedules: list[dict[str, Any]]) -> render.Rows:
    header = ["name", "action", "when", "enabled", "next_run_at", "last_run_at", "last_task_id"]
    return [
        header,
        *(
            [
                s["name"],
                s["action"],
                _when(s),
                "true" if s["enabled"] else "false",
                render.plain(s["next_run_at"]),
                render.plain(s["last_run_at"]),
                render.plain(s["last_task_id"]),
            ]
            for s in schedules
        ),
    ]


def _show(options: Options, schedules: list[dict[str, Any]], *, one: bool = True) -> None:
    """JSON (one schedule, or the list), a table on a terminal, tab-separated when piped."""
    if options.json:
        typer.echo(render.as_json(schedules[0] if one else schedules))
    elif sys.stdout.isatty():
        out.print(schedule_table(schedules))
    else:
        typer.echo(render.tsv(schedule_rows(schedules)))


def list_schedules(options: Options) -> None:
    """Every schedule with its next run and last task."""
    with options.client() as client:
        schedules: list[dict[str, Any]] = client.schedules()
    _show(options, schedules, one=False)


def add(
    options: Options,
    name: Name,
    action: Annotated[str, typer.Argument(help="The action each firing runs.")],
    cron: Annotated[
        str | None, typer.Option("--cron", help="A cron expression, e.g. '0 3 * * *'.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--tz", help="The cron's time zone, e.g. Europe/Berlin.")
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Fire at this interval instead: 30s, 5m, 1h.")
    ] = None,
    data: Annotated[str, typer.Option("--data", "-d", help="The tasks' data (JSON).")] = "{}",
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Time limit of each task, e.g. 10m.")
    ] = None,
) -> None:
    """Add a schedule: --cron (with --tz) or --every."""
    if (cron is None) == (every is None):
        raise typer.BadParameter("give --cron or --every (one of them)")
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    body: dict[str, Any] = {"name": name, "action": action, "data": payload}
    if cron is not None:
        body["cron"] = cron
        if timezone is not None:
            body["timezone"] = timezone
    else:
        body["every_s"] = duration_option(every, "--every")
    limit = duration_option(timeout, "--timeout")
    if limit is not None:
        body["timeout_s"] = limit
    with options.client() as client:
        _show(options, [client.add_schedule(body)])


def pause(options: Options, name: Name) -> None:
    """Stop a schedule firing (until `resume`)."""
    with options.client() as client:
        _show(options, [client.patch_schedule(name, {"enabled": False})])


def resume(options: Options, name: Name) -> None:
    """Let a paused schedule fire again, from now on (the times it missed are not made up)."""
    with options.client() as client:
        _show(options, [client.patch_schedule(name, {"enabled": True})])


def rm(options: Options, name: Name) -> None:
    """Delete a schedule; the tasks it created stay."""
    with options.client() as client:
        client.delete_schedule(name)
    if not options.json:
        out.print(f"deleted schedule {name}")

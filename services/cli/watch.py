"""`taskq list --watch`: on a terminal the table redrawn in place; piped, a line per change."""

from __future__ import annotations

import time
from collections.abc import Callable

import typer
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from services.cli import render
from services.cli.client import ApiError, Task

WATCH_S = 2.0

Fetch = Callable[[], list[Task]]


def redraw(fetch: Fetch, out: Console) -> None:
    """The task table, redrawn every WATCH_S until Ctrl-C."""

    def frame() -> RenderableType:
        try:
            tasks = fetch()
        except ApiError as exc:
            return Text(f"error: {exc}", style="red")
        title = f"taskq · {len(tasks)} tasks · {time.strftime('%H:%M:%S')} · Ctrl-C to stop"
        return render.task_table(tasks, out.width, title)

    with Live(frame(), console=out, auto_refresh=False) as live:
        while True:
            time.sleep(WATCH_S)
            live.update(frame(), refresh=True)


def print_changes(fetch: Fetch, err: Console) -> None:
    """The header and every task once, then a line each time a task appears or changes, as
    `kubectl get --watch` does, so `taskq list --watch | grep failed` shows failures as they come."""
    header, *_ = render.task_rows([])
    typer.echo(render.tsv([header]))
    shown: dict[str, list[str]] = {}
    while True:
        try:
            rows = render.task_rows(fetch())[1:]
        except ApiError as exc:
            err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        else:
            changed = [row for row in rows if shown.get(row[0]) != row]
            if changed:
                typer.echo(render.tsv(changed))
                shown.update((row[0], row) for row in changed)
        time.sleep(WATCH_S)

"""`taskq get --watch`: follow one task to its end, with its progress as a bar."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from services.cli.client import FINAL, Client, Task

POLL_S = 0.5


def follow(client: Client, task_id: str, console: Console) -> Task:
    """Poll the task until it is final, drawing its status and progress; return it."""
    columns = (
        TextColumn("{task.fields[status]:<10}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("", total=1.0, status="…")
        while True:
            task = client.get(task_id)
            shown = task.get("progress") or {}
            progress.update(
                bar,
                completed=1.0 if task["status"] == "completed" else shown.get("fraction", 0.0),
                description=shown.get("message") or "",
                status=task["status"],
            )
            if task["status"] in FINAL:
                return task
            time.sleep(POLL_S)

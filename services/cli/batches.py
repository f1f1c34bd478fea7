"""Submitting many tasks through POST /tasks/batch, 1,000 a request, with a progress bar."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.client import TIMEOUT_S, ApiError, check, describe, headers

BATCH = 1000


class BadLine(ValueError):
    """A line of a tasks file is not a task object."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every task of a JSON-lines file (blank lines skipped); BadLine names the first bad one."""
    tasks = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                task = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise BadLine(f"line {number} is not JSON: {exc}") from None
            if not isinstance(task, dict):
                raise BadLine(f"line {number} is not a JSON object")
            tasks.append(task)
    return tasks


def chunks(tasks: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    it = iter(tasks)
    while chunk := list(islice(it, size)):
        yield chunk


def submit_all(
    url: str, token: str | None, tasks: list[dict[str, Any]], console: Console
) -> list[str]:
    """Submit the tasks in batches of BATCH, in order; return their ids. A refused batch
    stops here (ApiError says which tasks were already queued: none of the refused batch)."""
    ids: list[str] = []
    columns = (
        TextColumn("submitted"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        httpx.Client(base_url=url, headers=headers(token), timeout=TIMEOUT_S) as http,
        Progress(*columns, console=console, transient=False) as progress,
    ):
        bar = progress.add_task("submitted", total=len(tasks))
        for chunk in chunks(tasks):
            try:
                accepted = check(http.post("/tasks/batch", json={"tasks": chunk}))
            except httpx.HTTPError as exc:
                raise ApiError(f"{describe(exc, url)} ({len(ids)} queued before)") from None
            except ApiError as exc:
                where = f"tasks {len(ids) + 1}-{len(ids) + len(chunk)}"
                raise ApiError(f"{exc} in {where} ({len(ids)} queued before)") from None
            ids += accepted["ids"]
            progress.advance(bar, len(chunk))
    return ids

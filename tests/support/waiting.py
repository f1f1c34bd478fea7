"""Waiting with a bound, the one way the tests wait: for any condition, for a task's row in the
services' SQLite file, or for the task as the API shows it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection
from typing import Any, Literal, TypeVar

import httpx

from shared.config import Settings
from shared.names import FINAL_STATUSES
from tests.support.observe import task_row

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | Literal[False] | None], timeout: float, what: str, every: float = 0.05
) -> T:
    """Poll `check` until it returns something truthy (returned); fail naming `what` after
    `timeout` s. A check may say "not yet" with None or False (`cond and value`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(every)


def wait_row(
    settings: Settings,
    task_id: str,
    ready: Callable[[sqlite3.Row], object],
    what: str,
    timeout: float = 30,
    every: float = 0.05,
) -> sqlite3.Row:
    """The task's row once `ready(row)` holds (polled as `wait_until` does)."""

    def check() -> sqlite3.Row | None:
        row = task_row(settings, task_id)
        return row if row is not None and ready(row) else None

    return wait_until(check, timeout, what, every)


def wait_final_row(settings: Settings, task_id: str, timeout: float = 30) -> sqlite3.Row:
    """The task's row, read from SQLite, once it is final (completed, failed or cancelled)."""
    return wait_row(
        settings,
        task_id,
        lambda row: row["status"] in FINAL_STATUSES,
        f"task {task_id} to be final",
        timeout,
    )


def wait_task_status(
    client: httpx.Client,
    task_id: str,
    wanted: Collection[str],
    timeout: float = 30,
    every: float = 0.05,
) -> dict[str, Any]:
    """The task as GET /tasks/{id} shows it once its status is one of `wanted`."""

    def check() -> dict[str, Any] | None:
        task: dict[str, Any] = client.get(f"/tasks/{task_id}").json()
        return task if task["status"] in wanted else None

    return wait_until(check, timeout, f"task {task_id} to be {' or '.join(sorted(wanted))}", every)


def wait_final_task(client: httpx.Client, task_id: str, timeout: float = 30) -> dict[str, Any]:
    """The task as GET /tasks/{id} shows it once it is final (completed, failed or cancelled)."""
    return wait_task_status(client, task_id, FINAL_STATUSES, timeout)

"""The consumer's writes, as operations for the group-commit writer (shared.db.BatchWriter).

Every transition is conditional on the current status, so a duplicate or late delivery can
never overwrite a final result: one task, one row, one result.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from shared.db import WriteOp


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of trying to start a task."""

    status: str | None  # the status found when the claim failed, None if there is no such task
    attempts: int = 0
    action: str = ""
    data: dict[str, Any] | None = None

    @property
    def claimed(self) -> bool:
        return self.data is not None


def claim(task_id: str, now: int) -> WriteOp[Claim]:
    """Mark the task `running` (attempts + 1) if it is queued, retrying, or left running by a
    consumer that died; otherwise report what it is."""

    def op(conn: sqlite3.Connection) -> Claim:
        row = conn.execute(
            "UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = ?"
            " WHERE id = ? AND status IN ('queued', 'retrying', 'running')"
            " RETURNING attempts, action, data",
            (now, task_id),
        ).fetchone()
        if row is not None:
            return Claim("running", row[0], row[1], orjson.loads(row[2]))
        found = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return Claim(found[0] if found is not None else None)

    return op


def complete(task_id: str, result: dict[str, Any], now: int) -> WriteOp[bool]:
    """Store the result; False if the task was not running (a duplicate finished first)."""
    result_json = orjson.dumps(result).decode()

    def op(conn: sqlite3.Connection) -> bool:
        return bool(
            conn.execute(
                "UPDATE tasks SET status = 'completed', result = ?, error = NULL,"
                " processed_at = ? WHERE id = ? AND status = 'running'",
                (result_json, now, task_id),
            ).rowcount
        )

    return op


def retrying(task_id: str, error: str) -> WriteOp[bool]:
    """The attempt failed and another will follow after a delay."""

    def op(conn: sqlite3.Connection) -> bool:
        return bool(
            conn.execute(
                "UPDATE tasks SET status = 'retrying', error = ? WHERE id = ? AND status = 'running'",
                (error, task_id),
            ).rowcount
        )

    return op


def fail(task_id: str, error: str, now: int) -> WriteOp[bool]:
    """The last attempt failed: the task is `failed` for good (until replayed)."""

    def op(conn: sqlite3.Connection) -> bool:
        return bool(
            conn.execute(
                "UPDATE tasks SET status = 'failed', error = ?, processed_at = ?"
                " WHERE id = ? AND status = 'running'",
                (error, now, task_id),
            ).rowcount
        )

    return op


def record_dead_letter(task_id: str | None, reason: str, body: str, now: int) -> WriteOp[None]:
    """Keep the dead message, and make sure its task (if any) shows `failed` with a reason."""

    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO dead_letters (task_id, reason, body, received_at) VALUES (?, ?, ?, ?)",
            (task_id, reason, body, now),
        )
        if task_id is None:
            return
        # A task that already failed keeps its action's error; one the broker gave up on
        # (a crash loop hit the delivery limit) gets the broker's reason.
        conn.execute(
            "UPDATE tasks SET status = 'failed', dead_lettered_at = ?,"
            " processed_at = COALESCE(processed_at, ?),"
            " error = CASE WHEN status = 'failed' AND error IS NOT NULL THEN error ELSE ? END"
            " WHERE id = ? AND status != 'completed'",
            (now, now, f"dead-lettered: {reason}", task_id),
        )

    return op

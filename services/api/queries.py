"""The API's reads: one task, a page of tasks, the orphan sweep's candidates and the stats."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import aiosqlite

from shared.models import TASK_COLUMNS, is_uuid, task_json
from shared.names import Priority, Status


class BadCursor(ValueError):
    """The cursor was not one this API handed out."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a listing stopped: the last task's creation time and id."""

    created_at: int
    id: str

    def encode(self) -> str:
        raw = f"{self.created_at}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            created, _, task_id = raw.partition(":")
            position = cls(int(created), task_id)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadCursor(cursor) from exc
        if not is_uuid(position.id) or position.created_at < 0:
            raise BadCursor(cursor)
        return position


async def get_task(db: aiosqlite.Connection, task_id: str) -> dict[str, Any] | None:
    async with db.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)) as cur:
        row = await cur.fetchone()
    return task_json(row) if row is not None else None


async def list_tasks(
    db: aiosqlite.Connection,
    *,
    status: Status | None,
    action: str | None,
    limit: int,
    after: Position | None,
    priority: Priority | None = None,
) -> tuple[list[dict[str, Any]], Position | None]:
    """A page of tasks, newest first, and the position to continue from (None at the end).

    Ordering by (created_at, id) with a keyset cursor keeps pages stable while tasks arrive:
    new tasks sort before the cursor, never into a page already served.
    """
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append("status = ?")
        params.append(status.value)
    if action is not None:
        where.append("action = ?")
        params.append(action)
    if priority is not None:
        where.append("priority = ?")
        params.append(priority.value)
    if after is not None:
        # A row value lets SQLite seek the index to the cursor; the equivalent OR form made
        # it walk every entry newer than the cursor (~0.5 s for a deep page of 1M rows).
        where.append("(created_at, id) < (?, ?)")
        params += [after.created_at, after.id]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {TASK_COLUMNS} FROM tasks {clause} ORDER BY created_at DESC, id DESC LIMIT ?"
    async with db.execute(sql, (*params, limit + 1)) as cur:
        rows = list(await cur.fetchall())
    more = len(rows) > limit
    rows = rows[:limit]
    following = Position(rows[-1][7], rows[-1][0]) if more else None
    return [task_json(r) for r in rows], following


async def orphans(
    db: aiosqlite.Connection, older_than: int, limit: int
) -> list[tuple[str, str, str, str]]:
    """Queued tasks whose publish was never confirmed (the outbox), oldest first, as
    (id, action, data, priority)."""
    async with db.execute(
        "SELECT id, action, data, priority FROM tasks WHERE published = 0 AND queued_at < ?"
        " AND status = 'queued' ORDER BY queued_at LIMIT ?",
        (older_than, limit),
    ) as cur:
        return [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]


async def ids_by_status(
    db: aiosqlite.Connection, statuses: list[Status], action: str | None, limit: int
) -> list[str]:
    """Ids of tasks in these statuses (optionally of one action), oldest first."""
    marks = ", ".join("?" * len(statuses))
    sql = f"SELECT id FROM tasks WHERE status IN ({marks})"
    params: list[Any] = [s.value for s in statuses]
    if action is not None:
        sql += " AND action = ?"
        params.append(action)
    sql += " ORDER BY created_at, id LIMIT ?"
    async with db.execute(sql, (*params, limit)) as cur:
        return [r[0] for r in await cur.fetchall()]


async def cancel_requested_ids(db: aiosqlite.Connection, limit: int) -> list[str]:
    """Running tasks whose cancel was requested and that have not stopped yet."""
    async with db.execute(
        "SELECT id FROM tasks WHERE status = 'running' AND cancel_requested = 1 LIMIT ?", (limit,)
    ) as cur:
        return [r[0] for r in await cur.fetchall()]


async def status_counts(db: aiosqlite.Connection) -> dict[str, int]:
    """How many tasks are in each status (every status present, zero or not)."""
    counts = {s.value: 0 for s in Status}
    async with db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status") as cur:
        for status, count in await cur.fetchall():
            counts[status] = count
    return counts


async def priority_counts(db: aiosqlite.Connection) -> dict[str, dict[str, int]]:
    """Unfinished tasks (queued, running, retrying) per priority lane."""
    counts: dict[str, dict[str, int]] = {
        p.value: {s: 0 for s in ("queued", "running", "retrying")} for p in Priority
    }
    async with db.execute(
        "SELECT priority, status, COUNT(*) FROM tasks"
        " WHERE status IN ('queued', 'running', 'retrying') GROUP BY 1, 2"
    ) as cur:
        for priority, status, count in await cur.fetchall():
            counts[priority][status] = count
    return counts


async def completed_per_minute(db: aiosqlite.Connection, since: int) -> dict[int, int]:
    """Completed tasks per minute (keyed by the minute's start in ms) since `since`."""
    async with db.execute(
        "SELECT processed_at / 60000, COUNT(*) FROM tasks"
        " WHERE status = 'completed' AND processed_at >= ? GROUP BY 1",
        (since,),
    ) as cur:
        return {int(minute) * 60000: count for minute, count in await cur.fetchall()}


async def next_due(db: aiosqlite.Connection) -> int | None:
    """The earliest run_at of a scheduled task (one seek of the tasks_due index)."""
    async with db.execute("SELECT MIN(run_at) FROM tasks WHERE status = 'scheduled'") as cur:
        row = await cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])

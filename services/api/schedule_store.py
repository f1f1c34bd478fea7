"""The `schedules` table: writes as operations for the group-commit writer, reads, and the
schedule as shown in JSON. A firing and the task it creates commit together."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite
import orjson

from services.api import store
from services.api.recurrence import Recurrence
from shared.clock import to_rfc3339
from shared.db import WriteOp
from shared.errors import ConflictError

COLUMNS = (
    "name, action, data, cron, timezone, every_s, timeout_s, enabled, next_run_at,"
    " last_run_at, last_task_id, created_at, updated_at"
)


def schedule_json(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    """A `schedules` row (selected with COLUMNS) as the API shows it."""
    (name, action, data, cron, zone, every_s, timeout_s, enabled, next_run, last_run) = row[:10]
    last_task, created, updated = row[10:13]
    return {
        "name": name,
        "action": action,
        "data": orjson.Fragment(data),
        "cron": cron,
        "timezone": zone,
        "every_s": every_s,
        "timeout_s": timeout_s,
        "enabled": bool(enabled),
        "next_run_at": to_rfc3339(next_run) if enabled else None,
        "last_run_at": to_rfc3339(last_run),
        "last_task_id": last_task,
        "created_at": to_rfc3339(created),
        "updated_at": to_rfc3339(updated),
    }


def recurrence(row: sqlite3.Row | tuple[Any, ...]) -> Recurrence:
    """The definition part of a row selected with COLUMNS."""
    return Recurrence(
        name=row[0],
        action=row[1],
        data_json=row[2],
        cron=row[3],
        timezone=row[4],
        every_s=row[5],
        timeout_s=row[6],
        enabled=bool(row[7]),
    )


def _values(spec: Recurrence) -> tuple[Any, ...]:
    return (spec.data_json, spec.cron, spec.timezone, spec.every_s, spec.timeout_s, spec.enabled)


def create(spec: Recurrence, next_run_at: int, now: int) -> WriteOp[tuple[Any, ...]]:
    """Insert a schedule; ConflictError if the name exists."""

    def op(conn: sqlite3.Connection) -> tuple[Any, ...]:
        try:
            row = conn.execute(
                "INSERT INTO schedules (name, action, data, cron, timezone, every_s, timeout_s,"
                " enabled, next_run_at, created_at, updated_at)"
                f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}",
                (spec.name, spec.action, *_values(spec), next_run_at, now, now),
            ).fetchone()
        except sqlite3.IntegrityError:
            raise ConflictError(f"a schedule named {spec.name!r} exists already") from None
        return tuple(row)

    return op


def update(spec: Recurrence, next_run_at: int, now: int) -> WriteOp[tuple[Any, ...] | None]:
    """Replace a schedule's definition and next fire time; None if it is gone."""

    def op(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
        row = conn.execute(
            "UPDATE schedules SET data = ?, cron = ?, timezone = ?, every_s = ?, timeout_s = ?,"
            " enabled = ?, next_run_at = ?, updated_at = ?"
            f" WHERE name = ? RETURNING {COLUMNS}",
            (*_values(spec), next_run_at, now, spec.name),
        ).fetchone()
        return None if row is None else tuple(row)

    return op


def delete(name: str) -> WriteOp[bool]:
    """Remove a schedule (its tasks stay); False if there was none."""

    def op(conn: sqlite3.Connection) -> bool:
        return bool(conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount)

    return op


def fire(
    spec: Recurrence, due: int, next_run_at: int, task_id: str, now: int
) -> WriteOp[str | None]:
    """Fire the schedule for its fire time `due`: advance it to `next_run_at` and create its
    task, in one transaction. Conditional on the schedule still being due at `due`, so of two
    API processes only one fires; the task's Idempotency-Key `schedule:<name>:<fire time>`
    makes one firing one task even so. Returns the id of a new task to publish, or None."""
    key = f"schedule:{spec.name}:{to_rfc3339(due)}"
    insert = store.insert_task(
        task_id,
        spec.action,
        spec.data_json,
        now,
        key=key,
        request_hash=key,
        key_ttl_ms=now,  # forever: a firing never repeats
        timeout_s=spec.timeout_s,
        schedule=spec.name,
    )

    def op(conn: sqlite3.Connection) -> str | None:
        taken = conn.execute(
            "UPDATE schedules SET next_run_at = ?, last_run_at = ?, last_task_id = ?"
            " WHERE name = ? AND next_run_at = ? AND enabled = 1",
            (next_run_at, due, task_id, spec.name, due),
        ).rowcount
        if not taken:
            return None
        existing = insert(conn)
        if existing is not None:
            conn.execute(
                "UPDATE schedules SET last_task_id = ? WHERE name = ?", (existing.id, spec.name)
            )
            return None
        return task_id

    return op


async def get(db: aiosqlite.Connection, name: str) -> tuple[Any, ...] | None:
    async with db.execute(f"SELECT {COLUMNS} FROM schedules WHERE name = ?", (name,)) as cur:
        row = await cur.fetchone()
    return None if row is None else tuple(row)


async def all_schedules(db: aiosqlite.Connection) -> list[tuple[Any, ...]]:
    async with db.execute(f"SELECT {COLUMNS} FROM schedules ORDER BY name") as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def due(db: aiosqlite.Connection, now: int, limit: int) -> list[tuple[Any, ...]]:
    """Enabled schedules whose next fire time has come, earliest first."""
    async with db.execute(
        f"SELECT {COLUMNS} FROM schedules WHERE enabled = 1 AND next_run_at <= ?"
        " ORDER BY next_run_at LIMIT ?",
        (now, limit),
    ) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def next_fire(db: aiosqlite.Connection) -> int | None:
    """The earliest next fire time of an enabled schedule."""
    async with db.execute("SELECT MIN(next_run_at) FROM schedules WHERE enabled = 1") as cur:
        row = await cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])

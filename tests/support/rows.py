"""Task rows written straight into a migrated database, as the API would have stored them: the
one place tests plant a task (an orphan, a failed task, many for a listing) behind the services'
back, or run one of the state machine's operations on a connection of their own."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any, TypeVar

import orjson

from shared.clock import now_ms
from shared.db import WriteOp

T = TypeVar("T")


def plant_task(
    conn: sqlite3.Connection,
    *,
    status: str = "queued",
    action: str = "uppercase",
    data: dict[str, Any] | str | None = None,
    task_id: str | None = None,
    attempts: int = 0,
    error: str | None = None,
    result: dict[str, Any] | str | None = None,
    created_at: int | None = None,
    started_at: int | None = None,
    processed_at: int | None = None,
    published: bool = True,
    claim_token: str | None = None,
    priority: str = "normal",
) -> str:
    """Insert one task and return its id. `published=False` leaves it for the outbox's sweep;
    `data` may be JSON text already (a fuzzer's odd but valid document, say)."""
    task_id = task_id or str(uuid.uuid4())
    created = now_ms() if created_at is None else created_at
    data_json = data if isinstance(data, str) else orjson.dumps(data or {}).decode()
    conn.execute(
        "INSERT INTO tasks (id, action, data, status, attempts, error, result, created_at,"
        " started_at, processed_at, queued_at, published, claim_token, priority)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            task_id,
            action,
            data_json,
            status,
            attempts,
            error,
            result if result is None or isinstance(result, str) else orjson.dumps(result).decode(),
            created,
            started_at,
            processed_at,
            created,
            int(published),
            claim_token,
            priority,
        ),
    )
    return task_id


def plant_into(path: str, **row: Any) -> str:
    """plant_task on the database file at `path`, committed at once."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        with conn:
            return plant_task(conn, **row)
    finally:
        conn.close()


def apply(conn: sqlite3.Connection, op: WriteOp[T]) -> T:
    """Run `op` in a transaction of its own, as the group-commit writer runs each one; roll back
    if it raises. `conn` is in autocommit mode (`isolation_level=None`)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = op(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result

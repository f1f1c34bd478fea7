"""The API's writes, as operations for the group-commit writer (shared.db.BatchWriter)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from shared.db import WriteOp
from shared.errors import IdempotencyKeyReusedError


@dataclass(frozen=True, slots=True)
class Existing:
    """The task an Idempotency-Key already named."""

    id: str
    status: str
    # Queued but not yet confirmed by the broker: its own request may still withdraw it (503).
    pending: bool = False


def insert_task(
    task_id: str,
    action: str,
    data_json: str,
    now: int,
    *,
    key: str | None = None,
    request_hash: str | None = None,
    key_ttl_ms: int = 0,
    run_at: int | None = None,
    timeout_s: float | None = None,
    schedule: str | None = None,
    priority: str = "normal",
) -> WriteOp[Existing | None]:
    """Store a new task, `queued`, or `scheduled` when it has a `run_at` (and its idempotency
    key); with a fresh matching key, return the Existing task instead. Runs in one
    transaction, so two requests with one key cannot race."""
    status = "queued" if run_at is None else "scheduled"

    def op(conn: sqlite3.Connection) -> Existing | None:
        if key is not None:
            row = conn.execute(
                "SELECT k.task_id, k.request_hash, t.status, t.published FROM idempotency_keys k"
                " LEFT JOIN tasks t ON t.id = k.task_id WHERE k.key = ? AND k.created_at > ?",
                (key, now - key_ttl_ms),
            ).fetchone()
            if row is not None and row[2] is not None:
                if row[1] != request_hash:
                    raise IdempotencyKeyReusedError
                return Existing(row[0], row[2], pending=row[2] == "queued" and not row[3])
            conn.execute("DELETE FROM idempotency_keys WHERE key = ?", (key,))
        conn.execute(
            "INSERT INTO tasks (id, action, data, status, attempts, created_at, queued_at,"
            " run_at, timeout_s, schedule, priority) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
            (task_id, action, data_json, status, now, now, run_at, timeout_s, schedule, priority),
        )
        if key is not None:
            conn.execute(
                "INSERT INTO idempotency_keys (key, task_id, request_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (key, task_id, request_hash, now),
            )
        return None

    return op


@dataclass(frozen=True, slots=True)
class ExistingBatch:
    """The batch an Idempotency-Key already named."""

    ids: list[str]
    # Some of its tasks are not yet confirmed by the broker: its request may still withdraw it.
    pending: bool = False


# A batch's key lives beside single tasks' keys, in a namespace of its own.
BATCH_KEY_PREFIX = "batch:"


class BatchRow(NamedTuple):
    """One task of a batch as stored; a `run_at` makes it `scheduled`."""

    id: str
    action: str
    data_json: str
    priority: str
    run_at: int | None = None
    timeout_s: float | None = None


def insert_batch(
    batch_id: str,
    rows: list[BatchRow],
    now: int,
    *,
    key: str | None = None,
    request_hash: str | None = None,
    key_ttl_ms: int = 0,
) -> WriteOp[ExistingBatch | None]:
    """Store every task of a batch, `queued` (or `scheduled` when it has a run_at), in one
    transaction; with a fresh matching key, return the ExistingBatch instead."""
    stored_key = BATCH_KEY_PREFIX + key if key is not None else None

    def op(conn: sqlite3.Connection) -> ExistingBatch | None:
        if stored_key is not None:
            row = conn.execute(
                "SELECT b.task_ids, k.request_hash FROM idempotency_keys k"
                " JOIN batches b ON b.id = k.task_id WHERE k.key = ? AND k.created_at > ?",
                (stored_key, now - key_ttl_ms),
            ).fetchone()
            if row is not None:
                if row[1] != request_hash:
                    raise IdempotencyKeyReusedError
                ids: list[str] = orjson.loads(row[0])
                marks = ", ".join("?" * len(ids))
                (unconfirmed,) = conn.execute(
                    f"SELECT COUNT(*) FROM tasks WHERE id IN ({marks})"
                    " AND status = 'queued' AND published = 0",
                    ids,
                ).fetchone()
                return ExistingBatch(ids, pending=unconfirmed > 0)
            conn.execute("DELETE FROM idempotency_keys WHERE key = ?", (stored_key,))
        conn.executemany(
            "INSERT INTO tasks (id, action, data, status, attempts, created_at, queued_at,"
            " priority, run_at, timeout_s) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            [
                (
                    r.id,
                    r.action,
                    r.data_json,
                    "queued" if r.run_at is None else "scheduled",
                    now,
                    now,
                    r.priority,
                    r.run_at,
                    r.timeout_s,
                )
                for r in rows
            ],
        )
        conn.execute(
            "INSERT INTO batches (id, task_ids, created_at) VALUES (?, ?, ?)",
            (batch_id, orjson.dumps([r[0] for r in rows]).decode(), now),
        )
        if stored_key is not None:
            conn.execute(
                "INSERT INTO idempotency_keys (key, task_id, request_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (stored_key, batch_id, request_hash, now),
            )
        return None

    return op


def mark_published(task_ids: list[str]) -> WriteOp[None]:
    """Record the broker's confirms: these rows leave the recovery sweep's outbox."""

    def op(conn: sqlite3.Connection) -> None:
        conn.executemany("UPDATE tasks SET published = 1 WHERE id = ?", [(i,) for i in task_ids])

    return op


def expire_idempotency_keys(before: int) -> WriteOp[int]:
    """Forget keys older than their time to live."""

    def op(conn: sqlite3.Connection) -> int:
        return conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at <= ?", (before,)
        ).rowcount

    return op

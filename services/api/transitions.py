"""The task state machine: every change of a task's status, as operations for the group-commit
writer (shared.db.BatchWriter). The API is the database's one owner, so this is the one place
that moves a task from one status to another.

    scheduled ──due (dispatcher)──┐
                                  ▼
    queued ──claim──▶ running ──complete──▶ completed
      ▲  ▲              │ ▲ ──retry──▶ retrying ──claim──┘
      │  └─withdraw     │ └──claim (its consumer died)
      │   (503)         └──fail / dead letter──▶ failed ──requeue (replay)──┘
    completed | failed ──purge / delete──▶ (gone)
    scheduled, queued, retrying ──cancel──▶ cancelled ◀──cancelled (its consumer stopped it)── running
    (a cancel of a running task sets cancel_requested: no claim may run it again, and a
    failed attempt then ends `cancelled` rather than retrying)

Every transition is conditional on the current status, and a consumer's on its claim token, so
a duplicate or late delivery never overwrites a final result: one task, one row, one result.
"""

from __future__ import annotations

import sqlite3

import orjson

from shared.db import WriteOp
from shared.names import CANCELLABLE_STATUSES, CLAIMABLE_STATUSES, FINAL_STATUSES, Status
from shared.reports import Answer

_CLAIMABLE = tuple(sorted(CLAIMABLE_STATUSES))
_IN_CLAIMABLE = f"status IN ({', '.join('?' * len(_CLAIMABLE))})"
_CANCELLABLE = tuple(sorted(CANCELLABLE_STATUSES))
_IN_CANCELLABLE = f"status IN ({', '.join('?' * len(_CANCELLABLE))})"
_CLAIM_WHERE = (
    "UPDATE tasks SET status = ?, attempts = attempts + 1, started_at = ?, claim_token = ?,"
    f" claim_rank = ? WHERE id = ? AND {_IN_CLAIMABLE} AND NOT (status = ? AND claim_token IS ?)"
    " AND (claim_rank IS NULL OR claim_rank <= ?)"
)
_CLAIMED = " RETURNING attempts, action, data, timeout_s"
_CLAIM = _CLAIM_WHERE + _CLAIMED
_CLAIM_UNLESS_CANCEL_REQUESTED = _CLAIM_WHERE + " AND cancel_requested = 0" + _CLAIMED


def _current(conn: sqlite3.Connection, task_id: str) -> tuple[str | None, int, str | None]:
    row = conn.execute(
        "SELECT status, attempts, claim_token FROM tasks WHERE id = ?", (task_id,)
    ).fetchone()
    return (row[0], row[1], row[2]) if row is not None else (None, 0, None)


def claim(task_id: str, token: str, now: int, rank: int = 0) -> WriteOp[Answer]:
    """Mark the task `running` (attempts + 1) under `token` if it is queued, retrying, or left
    running by a consumer that died; a claim resent with the same token changes nothing. A
    claim that holds the task answers with its action and data as stored.

    `rank` orders the deliveries of a task (shared.broker.delivery_rank): a claim ranked below
    the one that holds the task comes from a delivery the broker has since given to another
    consumer, and is refused, so that it cannot strand the task with no one to finish it."""

    params = (Status.RUNNING, now, token, rank, task_id, *_CLAIMABLE, Status.RUNNING, token, rank)

    def op(conn: sqlite3.Connection) -> Answer:
        # The common case in one statement, since each one hands the GIL to the HTTP loop and
        # then waits to get it back: a claimable task that no cancel reached.
        row = conn.execute(_CLAIM_UNLESS_CANCEL_REQUESTED, params).fetchone()
        if row is None:
            # A cancel that reached a running task whose consumer then died: the redelivery
            # must not run it again. Its own claim, resent, still finds it (that consumer is
            # told).
            conn.execute(
                "UPDATE tasks SET status = ?, processed_at = ?"
                f" WHERE id = ? AND cancel_requested = 1 AND {_IN_CLAIMABLE}"
                " AND NOT (status = ? AND claim_token IS ?)",
                (Status.CANCELLED, now, task_id, *_CLAIMABLE, Status.RUNNING, token),
            )
            row = conn.execute(_CLAIM, params).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT attempts, action, data, timeout_s FROM tasks"
                " WHERE id = ? AND status = ? AND claim_token = ?",
                (task_id, Status.RUNNING, token),
            ).fetchone()
        if row is not None:
            return Answer(True, Status.RUNNING, row[0], row[1], orjson.Fragment(row[2]), row[3])
        status, attempts, _ = _current(conn, task_id)
        return Answer(False, status, attempts)

    return op


def _finish(
    task_id: str, token: str, to: Status, assignments: str, params: tuple[object, ...]
) -> WriteOp[Answer]:
    """running → `to` for the delivery that holds the claim; applied again, a no-op that still
    answers `applied`, so a resent report and its first copy agree."""

    def op(conn: sqlite3.Connection) -> Answer:
        row = conn.execute(
            f"UPDATE tasks SET status = ?, {assignments}"
            " WHERE id = ? AND status = ? AND claim_token = ? RETURNING attempts",
            (to, *params, task_id, Status.RUNNING, token),
        ).fetchone()
        if row is not None:
            return Answer(True, to, row[0])
        status, attempts, held_by = _current(conn, task_id)
        return Answer(status == to and held_by == token, status, attempts)

    return op


def complete(task_id: str, token: str, result: object, now: int) -> WriteOp[Answer]:
    """Store the result of the running attempt."""
    result_json = orjson.dumps(result).decode()
    return _finish(
        task_id,
        token,
        Status.COMPLETED,
        # a throttled last progress report may never be sent: a task done is all the way
        "result = ?, error = NULL, processed_at = ?,"
        " progress = CASE WHEN progress IS NULL THEN NULL ELSE 1.0 END",
        (result_json, now),
    )


def retrying(task_id: str, token: str, error: str, now: int) -> WriteOp[Answer]:
    """The attempt failed and another will follow after a delay, unless a cancel was
    requested: then the task ends `cancelled` (the answer is not applied, so no retry)."""
    to_retrying = _finish(task_id, token, Status.RETRYING, "error = ?", (error,))

    def op(conn: sqlite3.Connection) -> Answer:
        conn.execute(
            "UPDATE tasks SET status = ?, error = ?, processed_at = ?"
            " WHERE id = ? AND status = ? AND claim_token = ? AND cancel_requested = 1",
            (Status.CANCELLED, error, now, task_id, Status.RUNNING, token),
        )
        return to_retrying(conn)

    return op


def cancelled(task_id: str, token: str, now: int) -> WriteOp[Answer]:
    """The consumer stopped the running attempt on a cancel request."""
    return _finish(
        task_id, token, Status.CANCELLED, "error = ?, processed_at = ?", ("cancelled", now)
    )


def progress(
    task_id: str, token: str, fraction: float, message: str | None, now: int
) -> WriteOp[Answer]:
    """The running attempt's latest progress; a late report (the task ended) changes nothing."""

    def op(conn: sqlite3.Connection) -> Answer:
        done = conn.execute(
            "UPDATE tasks SET progress = ?, progress_message = ?, progress_at = ?"
            " WHERE id = ? AND status = ? AND claim_token = ?",
            (fraction, message, now, task_id, Status.RUNNING, token),
        ).rowcount
        status, attempts, _ = _current(conn, task_id)
        return Answer(bool(done), status, attempts)

    return op


# What cancel() did to one task: ended it, asked its consumer to stop it, or neither.
ENDED = "ended"
REQUESTED = "requested"


def cancel(task_ids: list[str], now: int) -> WriteOp[dict[str, str | None]]:
    """Cancel these tasks: a cancellable one ends `cancelled` at once (its message is acked
    unrun when delivered), a running one is marked cancel_requested (the caller then tells
    the consumers). Per id: ENDED, REQUESTED, else the final status, or None if unknown."""

    def op(conn: sqlite3.Connection) -> dict[str, str | None]:
        outcome: dict[str, str | None] = {}
        for task_id in task_ids:
            if conn.execute(
                "UPDATE tasks SET status = ?, processed_at = ?, error = ?"
                f" WHERE id = ? AND {_IN_CANCELLABLE}",
                (Status.CANCELLED, now, "cancelled", task_id, *_CANCELLABLE),
            ).rowcount:
                outcome[task_id] = ENDED
            elif conn.execute(
                "UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND status = ?",
                (task_id, Status.RUNNING),
            ).rowcount:
                outcome[task_id] = REQUESTED
            else:
                outcome[task_id] = _current(conn, task_id)[0]
        return outcome

    return op


def fail(task_id: str, token: str, error: str, now: int) -> WriteOp[Answer]:
    """The last attempt failed: the task is `failed` for good (until replayed)."""
    return _finish(task_id, token, Status.FAILED, "error = ?, processed_at = ?", (error, now))


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
            "UPDATE tasks SET status = ?, dead_lettered_at = ?,"
            " processed_at = COALESCE(processed_at, ?),"
            " error = CASE WHEN status = ? AND error IS NOT NULL THEN error ELSE ? END"
            " WHERE id = ? AND status NOT IN (?, ?)",
            (
                Status.FAILED,
                now,
                now,
                Status.FAILED,
                f"dead-lettered: {reason}",
                task_id,
                Status.COMPLETED,
                Status.CANCELLED,
            ),
        )

    return op


def withdraw(task_id: str) -> WriteOp[bool]:
    """The publish failed: remove the task unless a consumer already has it.

    Returns True when the row was removed. False means a consumer claimed the task, so the
    broker did take the message (only its confirm was lost) and the task will run.
    """

    def op(conn: sqlite3.Connection) -> bool:
        gone = conn.execute(
            "DELETE FROM tasks WHERE id = ? AND status = ? AND published = 0",
            (task_id, Status.QUEUED),
        ).rowcount
        if gone:
            conn.execute("DELETE FROM idempotency_keys WHERE task_id = ?", (task_id,))
        return bool(gone)

    return op


def withdraw_batch(batch_id: str, task_ids: list[str]) -> WriteOp[list[str]]:
    """A batch's publish failed: remove its tasks (and its key); return the ids a consumer
    claimed meanwhile, which the caller cancels. A task whose own message was confirmed (and
    marked published) still goes: all or nothing, and that message, finding no task, is acked
    without running."""

    def op(conn: sqlite3.Connection) -> list[str]:
        claimed = []
        for task_id in task_ids:
            if not conn.execute(
                "DELETE FROM tasks WHERE id = ? AND status IN (?, ?)",
                (task_id, Status.QUEUED, Status.SCHEDULED),
            ).rowcount:
                claimed.append(task_id)
        conn.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
        conn.execute("DELETE FROM idempotency_keys WHERE task_id = ?", (batch_id,))
        return claimed

    return op


def requeue_failed(task_ids: list[str], now: int) -> WriteOp[list[tuple[str, str, str, str]]]:
    """Put failed tasks back to `queued` with fresh attempts; return (id, action, data,
    priority) of those that were failed (others are left alone)."""

    def op(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
        done = []
        for task_id in task_ids:
            row = conn.execute(
                "UPDATE tasks SET status = ?, attempts = 0, result = NULL, error = NULL,"
                " started_at = NULL, processed_at = NULL, dead_lettered_at = NULL,"
                " claim_token = NULL, claim_rank = NULL, queued_at = ?, published = 0,"
                " cancel_requested = 0, progress = NULL, progress_message = NULL,"
                " progress_at = NULL WHERE id = ? AND status = ? RETURNING id, action, data, priority",
                (Status.QUEUED, now, task_id, Status.FAILED),
            ).fetchone()
            if row is not None:
                done.append((row[0], row[1], row[2], row[3]))
        return done

    return op


def restore_failed(task_id: str, error: str) -> WriteOp[None]:
    """A replay's publish failed: the task goes back to `failed`, saying why."""

    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE tasks SET status = ?, error = ?, processed_at = queued_at"
            " WHERE id = ? AND status = ? AND published = 0",
            (Status.FAILED, error, task_id, Status.QUEUED),
        )

    return op


def dispatch_due(now: int, limit: int) -> WriteOp[list[tuple[str, str, str, int, str]]]:
    """scheduled → queued for the tasks due by `now` (at most `limit`, earliest first); return
    their (id, action, data, run_at, priority). Conditional on `scheduled` inside the writer's
    transaction, so two API processes never both take one task; the queued row, unpublished,
    is the outbox's until the broker confirms it."""

    def op(conn: sqlite3.Connection) -> list[tuple[str, str, str, int, str]]:
        rows = conn.execute(
            "UPDATE tasks SET status = ?, queued_at = ?, published = 0"
            " WHERE id IN (SELECT id FROM tasks WHERE status = ? AND run_at <= ?"
            " ORDER BY run_at LIMIT ?) AND status = ?"
            " RETURNING id, action, data, run_at, priority",
            (Status.QUEUED, now, Status.SCHEDULED, now, limit, Status.SCHEDULED),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    return op


_FINAL = tuple(sorted(FINAL_STATUSES))


def _delete(conn: sqlite3.Connection, task_ids: list[str]) -> None:
    marks = ", ".join("?" * len(task_ids))
    conn.execute(f"DELETE FROM dead_letters WHERE task_id IN ({marks})", task_ids)
    conn.execute(f"DELETE FROM idempotency_keys WHERE task_id IN ({marks})", task_ids)
    conn.execute(f"DELETE FROM tasks WHERE id IN ({marks})", task_ids)


def delete_final(task_id: str) -> WriteOp[str | None]:
    """Remove one completed or failed task with its dead letters; return the status it had
    (the caller tells `deleted` from `not final` by it), None when there is no such task."""

    def op(conn: sqlite3.Connection) -> str | None:
        status, _, _ = _current(conn, task_id)
        if status in FINAL_STATUSES:
            _delete(conn, [task_id])
        return status

    return op


def purge_final(before: int, limit: int) -> WriteOp[int]:
    """Remove up to `limit` final tasks processed before `before`: one short transaction per
    batch, so the write lock is never held for long."""

    def op(conn: sqlite3.Connection) -> int:
        ids = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM tasks WHERE status IN ({', '.join('?' * len(_FINAL))})"
                " AND processed_at < ? LIMIT ?",
                (*_FINAL, before, limit),
            ).fetchall()
        ]
        if ids:
            _delete(conn, ids)
        return len(ids)

    return op

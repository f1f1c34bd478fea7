"""The state machine's transitions on a real migrated SQLite file: each one conditional, so a
duplicate or late delivery never overwrites a final result, and a report sent twice changes
nothing the second time."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from typing import Any

import orjson
import pytest

from services.api import transitions as store
from shared.broker import delivery_rank
from shared.db import BatchWriter
from shared.names import Status
from shared.reports import Answer
from tests.api.conftest import OTHER, T0, TOKEN, add_task, row
from tests.support.rows import apply


@pytest.mark.parametrize("status", ["queued", "retrying", "running"])
def test_claim_from_a_claimable_status(conn: sqlite3.Connection, status: str) -> None:
    task_id = add_task(
        conn, status, action="sum", data={"numbers": [2, 3]}, attempts=1, token=OTHER
    )
    claim = apply(conn, store.claim(task_id, TOKEN, T0 + 5))
    assert (claim.applied, claim.status, claim.attempts, claim.action) == (
        True,
        "running",
        2,
        "sum",
    )
    assert orjson.loads(orjson.dumps(claim.data)) == {"numbers": [2, 3]}
    stored = row(conn, task_id)
    assert stored["status"] == Status.RUNNING
    assert stored["attempts"] == 2
    assert stored["started_at"] == T0 + 5


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_a_final_task_is_not_claimed_again(conn: sqlite3.Connection, status: str) -> None:
    task_id = add_task(conn, status, attempts=1, processed_at=T0 + 1)
    claim = apply(conn, store.claim(task_id, OTHER, T0 + 5))
    assert not claim.applied
    assert claim.status == status
    stored = row(conn, task_id)
    assert (stored["status"], stored["attempts"], stored["started_at"]) == (status, 1, None)


def test_claiming_an_unknown_task(conn: sqlite3.Connection) -> None:
    claim = apply(conn, store.claim(str(uuid.uuid4()), TOKEN, T0))
    assert claim == Answer(False, None, 0)


def test_a_resent_claim_finds_its_own_claim(conn: sqlite3.Connection) -> None:
    """The owner died after committing a claim; the consumer asks again with the same token."""
    task_id = add_task(conn, "queued", token=None)
    first = apply(conn, store.claim(task_id, TOKEN, T0 + 1))
    again = apply(conn, store.claim(task_id, TOKEN, T0 + 2))
    assert (first.applied, first.attempts) == (again.applied, again.attempts) == (True, 1)
    assert first.action == again.action == "sum"
    assert (row(conn, task_id)["attempts"], row(conn, task_id)["started_at"]) == (1, T0 + 1)


def test_a_stale_consumer_cannot_finish_a_task_another_reclaimed(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "running", attempts=1, token=TOKEN)
    assert apply(conn, store.claim(task_id, OTHER, T0 + 2)).attempts == 2
    assert not apply(conn, store.complete(task_id, TOKEN, {"output": "stale"}, T0 + 3)).applied
    assert not apply(conn, store.fail(task_id, TOKEN, "stale", T0 + 3)).applied
    assert row(conn, task_id)["status"] == "running"


def test_a_late_claim_from_an_older_delivery_cannot_strand_the_task(
    conn: sqlite3.Connection,
) -> None:
    """The rolling-restart fault: a consumer's connection dies with its claim in flight; the
    broker gives the message to another consumer, whose claim lands first; then the old claim
    arrives (resent, or the owner's unacked copy redelivered). It must not take the task from
    the live delivery, whose outcome would then be refused with no one left to finish it."""
    task_id = add_task(conn, "queued", token=None)
    first_delivery = delivery_rank({"x-taskq-attempt": 0})
    redelivery = delivery_rank({"x-taskq-attempt": 0, "x-delivery-count": 1})
    live = apply(conn, store.claim(task_id, OTHER, T0 + 1, redelivery))
    late = apply(conn, store.claim(task_id, TOKEN, T0 + 2, first_delivery))
    assert live.applied and not late.applied
    assert (late.status, late.attempts) == (Status.RUNNING, 1)
    assert apply(conn, store.complete(task_id, OTHER, {"output": "done"}, T0 + 3)).applied
    assert row(conn, task_id)["status"] == "completed"


def test_a_newer_delivery_takes_over_and_a_retry_outranks_every_return(
    conn: sqlite3.Connection,
) -> None:
    task_id = add_task(conn, "queued", token=None)
    returned_twice = delivery_rank({"x-taskq-attempt": 0, "x-delivery-count": 2})
    assert apply(conn, store.claim(task_id, TOKEN, T0 + 1, returned_twice)).applied
    # a duplicate message (an outbox resend) of the same rank still takes a running task over
    assert apply(conn, store.claim(task_id, OTHER, T0 + 2, returned_twice)).attempts == 2
    assert apply(conn, store.retrying(task_id, OTHER, "boom", T0 + 2)).applied
    first_retry = delivery_rank({"x-taskq-attempt": 2})
    assert first_retry > returned_twice
    assert apply(conn, store.claim(task_id, "retry-delivery", T0 + 3, first_retry)).attempts == 3
    # and a replay starts the ranks again
    apply(conn, store.fail(task_id, "retry-delivery", "boom", T0 + 4))
    assert [r[0] for r in apply(conn, store.requeue_failed([task_id], T0 + 5))] == [task_id]
    assert apply(conn, store.claim(task_id, "replayed", T0 + 6, delivery_rank({}))).applied


def test_complete_a_running_task(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "running", attempts=2, error="earlier attempt failed")
    assert apply(conn, store.complete(task_id, TOKEN, {"output": 5}, T0 + 9)).applied
    stored = row(conn, task_id)
    assert stored["status"] == "completed"
    assert orjson.loads(stored["result"]) == {"output": 5}
    assert stored["error"] is None
    assert stored["processed_at"] == T0 + 9


@pytest.mark.parametrize("status", ["queued", "retrying", "completed", "failed"])
def test_complete_only_when_running(conn: sqlite3.Connection, status: str) -> None:
    task_id = add_task(conn, status, result='{"output": "first"}', processed_at=T0)
    done = apply(conn, store.complete(task_id, OTHER, {"output": "second"}, T0 + 9))
    assert done == Answer(False, status, 0)
    stored = row(conn, task_id)
    assert stored["status"] == status
    assert stored["result"] == '{"output": "first"}'
    assert stored["processed_at"] == T0


def test_retrying_keeps_the_error(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "running", attempts=1)
    assert apply(conn, store.retrying(task_id, TOKEN, "boom", T0)) == Answer(True, "retrying", 1)
    # sent again (its answer was lost): still applied, so the retry is still scheduled
    assert apply(conn, store.retrying(task_id, TOKEN, "boom", T0)).applied
    stored = row(conn, task_id)
    assert (stored["status"], stored["error"], stored["processed_at"]) == ("retrying", "boom", None)


@pytest.mark.parametrize("status", ["queued", "completed", "failed"])
def test_retrying_only_when_running(conn: sqlite3.Connection, status: str) -> None:
    task_id = add_task(conn, status)
    assert not apply(conn, store.retrying(task_id, OTHER, "boom", T0)).applied
    assert row(conn, task_id)["status"] == status


def test_fail_a_running_task(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "running", attempts=3)
    assert apply(conn, store.fail(task_id, TOKEN, "disk on fire", T0 + 3)).applied
    stored = row(conn, task_id)
    assert (stored["status"], stored["error"], stored["processed_at"]) == (
        "failed",
        "disk on fire",
        T0 + 3,
    )


@pytest.mark.parametrize("status", ["queued", "retrying", "completed"])
def test_fail_only_when_running(conn: sqlite3.Connection, status: str) -> None:
    task_id = add_task(conn, status)
    assert not apply(conn, store.fail(task_id, OTHER, "late", T0)).applied
    stored = row(conn, task_id)
    assert stored["status"] == status
    assert stored["error"] is None


def dead_letters(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in conn.execute("SELECT task_id, reason, body, received_at FROM dead_letters")
    ]


def test_dead_letter_of_a_failed_task_keeps_the_actions_error(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "failed", error="disk on fire", processed_at=T0 + 1)
    apply(conn, store.record_dead_letter(task_id, "rejected", '{"id": "..."}', T0 + 7))
    stored = row(conn, task_id)
    assert stored["status"] == "failed"
    assert stored["error"] == "disk on fire"
    assert stored["processed_at"] == T0 + 1
    assert stored["dead_lettered_at"] == T0 + 7
    assert dead_letters(conn) == [(task_id, "rejected", '{"id": "..."}', T0 + 7)]


@pytest.mark.parametrize("status", ["queued", "running", "retrying"])
def test_dead_letter_of_an_unfinished_task_fails_it_with_the_reason(
    conn: sqlite3.Connection, status: str
) -> None:
    """The broker gave up on it (a crash loop reached the delivery limit)."""
    task_id = add_task(conn, status, attempts=5, error="an earlier attempt's error")
    apply(conn, store.record_dead_letter(task_id, "delivery_limit", "{}", T0 + 7))
    stored = row(conn, task_id)
    assert stored["status"] == "failed"
    assert stored["error"] == "dead-lettered: delivery_limit"
    assert stored["processed_at"] == T0 + 7
    assert stored["dead_lettered_at"] == T0 + 7


def test_dead_letter_of_a_completed_task_changes_nothing_but_is_kept(
    conn: sqlite3.Connection,
) -> None:
    task_id = add_task(conn, "completed", result='{"output": 1}', processed_at=T0)
    apply(conn, store.record_dead_letter(task_id, "rejected", "{}", T0 + 7))
    stored = row(conn, task_id)
    assert (stored["status"], stored["error"], stored["dead_lettered_at"]) == (
        "completed",
        None,
        None,
    )
    assert len(dead_letters(conn)) == 1


def test_dead_letter_without_a_task(conn: sqlite3.Connection) -> None:
    apply(conn, store.record_dead_letter(None, "invalid message (not JSON); rejected", "x", T0))
    assert dead_letters(conn) == [(None, "invalid message (not JSON); rejected", "x", T0)]


async def test_a_whole_lifecycle_through_the_group_commit_writer(db_path: str) -> None:
    writer = BatchWriter(db_path)
    await writer.start()
    try:
        with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
            task_id = add_task(conn, "queued", action="fail", data={"times": 1})
        first = await writer.run(store.claim(task_id, "d1", T0 + 1))
        assert (first.applied, first.attempts) == (True, 1)
        assert (await writer.run(store.retrying(task_id, "d1", "flaky", T0))).applied
        second = await writer.run(store.claim(task_id, "d2", T0 + 2))
        assert (second.applied, second.attempts) == (True, 2)
        # the first delivery's late report cannot touch the second attempt
        assert not (
            await writer.run(store.complete(task_id, "d1", {"output": "x"}, T0 + 3))
        ).applied
        assert (await writer.run(store.complete(task_id, "d2", {"output": "ok"}, T0 + 3))).applied
        # a duplicate delivery of the same message finds it final
        duplicate = await writer.run(store.claim(task_id, "d3", T0 + 4))
        assert (duplicate.applied, duplicate.status) == (False, "completed")
    finally:
        await writer.close()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        assert conn.execute(
            "SELECT status, attempts, started_at, processed_at FROM tasks WHERE id = ?",
            (task_id,),
        ).fetchone() == ("completed", 2, T0 + 2, T0 + 3)

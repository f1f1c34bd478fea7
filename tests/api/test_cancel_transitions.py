"""Cancelling in the state machine: what ends at once, what is only asked, and the races with
a claim in flight (the request is remembered, so a later claim is refused)."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from services.api import transitions as store
from shared.names import Status
from shared.reports import Answer
from tests.api.conftest import OTHER, T0, TOKEN, add_task, row
from tests.support.rows import apply


@pytest.mark.parametrize("status", ["queued", "retrying"])
def test_a_waiting_task_is_cancelled_at_once(conn: sqlite3.Connection, status: str) -> None:
    task_id = add_task(conn, status, token=None)
    assert apply(conn, store.cancel([task_id], T0 + 1)) == {task_id: store.ENDED}
    stored = row(conn, task_id)
    assert (stored["status"], stored["processed_at"]) == (Status.CANCELLED, T0 + 1)
    # its message, delivered later, is not run
    claim = apply(conn, store.claim(task_id, TOKEN, T0 + 2))
    assert claim == Answer(False, Status.CANCELLED, 0)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_a_final_task_is_not_cancelled(conn: sqlite3.Connection, status: str) -> None:
    task_id = add_task(conn, status, processed_at=T0)
    assert apply(conn, store.cancel([task_id], T0 + 1)) == {task_id: status}
    assert row(conn, task_id)["status"] == status


def test_an_unknown_task(conn: sqlite3.Connection) -> None:
    missing = str(uuid.uuid4())
    assert apply(conn, store.cancel([missing], T0)) == {missing: None}


def test_a_running_task_is_asked_and_its_consumer_reports_cancelled(
    conn: sqlite3.Connection,
) -> None:
    task_id = add_task(conn, "running", attempts=1)
    assert apply(conn, store.cancel([task_id], T0 + 1)) == {task_id: store.REQUESTED}
    assert row(conn, task_id)["status"] == Status.RUNNING
    assert row(conn, task_id)["cancel_requested"] == 1
    # a stale consumer's report does not count; the holder's does, and again as a no-op
    assert not apply(conn, store.cancelled(task_id, OTHER, T0 + 2)).applied
    assert apply(conn, store.cancelled(task_id, TOKEN, T0 + 3)) == Answer(True, "cancelled", 1)
    assert apply(conn, store.cancelled(task_id, TOKEN, T0 + 4)).applied
    assert row(conn, task_id)["processed_at"] == T0 + 3


def test_a_redelivery_after_a_cancel_request_is_not_run(conn: sqlite3.Connection) -> None:
    """The consumer running it died after the request: the broker's redelivery must not run it."""
    task_id = add_task(conn, "running", attempts=1)
    apply(conn, store.cancel([task_id], T0 + 1))
    claim = apply(conn, store.claim(task_id, OTHER, T0 + 2))
    assert claim == Answer(False, Status.CANCELLED, 1)
    assert row(conn, task_id)["status"] == Status.CANCELLED


def test_its_own_resent_claim_still_finds_it(conn: sqlite3.Connection) -> None:
    """The request overtook the claim's answer: the claim's consumer hears the broadcast."""
    task_id = add_task(conn, "queued", token=None)
    apply(conn, store.claim(task_id, TOKEN, T0 + 1))
    apply(conn, store.cancel([task_id], T0 + 2))
    assert apply(conn, store.claim(task_id, TOKEN, T0 + 3)).applied


def test_a_failed_attempt_after_a_cancel_request_is_not_retried(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "running", attempts=1)
    apply(conn, store.cancel([task_id], T0 + 1))
    answer = apply(conn, store.retrying(task_id, TOKEN, "boom", T0 + 2))
    assert answer == Answer(False, Status.CANCELLED, 1)
    assert (row(conn, task_id)["status"], row(conn, task_id)["error"]) == ("cancelled", "boom")


def test_a_replay_forgets_the_request(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "running", attempts=1)
    apply(conn, store.cancel([task_id], T0 + 1))
    apply(conn, store.fail(task_id, TOKEN, "boom", T0 + 2))
    assert apply(conn, store.requeue_failed([task_id], T0 + 3))
    assert row(conn, task_id)["cancel_requested"] == 0
    assert apply(conn, store.claim(task_id, OTHER, T0 + 4)).applied


def test_progress_only_while_its_attempt_runs(conn: sqlite3.Connection) -> None:
    task_id = add_task(conn, "running", attempts=1)
    assert apply(conn, store.progress(task_id, TOKEN, 0.5, "half", T0 + 1)).applied
    assert not apply(conn, store.progress(task_id, OTHER, 0.9, "stale", T0 + 2)).applied
    apply(conn, store.complete(task_id, TOKEN, {"output": 1}, T0 + 3))
    assert not apply(conn, store.progress(task_id, TOKEN, 0.7, "late", T0 + 4)).applied
    stored = row(conn, task_id)
    # completed: the fraction is 1 (a throttled last report may never come), the rest stays
    assert (stored["progress"], stored["progress_message"], stored["progress_at"]) == (
        1.0,
        "half",
        T0 + 1,
    )

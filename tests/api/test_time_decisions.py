"""Decisions about time, in-process: parsing delay_s/run_at/timeout_s, cron and every_s
schedules (daylight saving, catch-up after downtime), and the state machine's time transitions
on a real migrated SQLite file."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson
import pytest

from services.api import schedule_store, transitions
from services.api.metrics import ApiMetrics
from services.api.recurrence import Recurrence, parse_create, parse_patch
from services.api.retention import Retention, purge_interval
from services.api.store import insert_task
from services.api.timing import MAX_DELAY_S, parse_timing
from shared.db import BatchWriter, configure
from shared.errors import UnprocessableError, ValidationError
from tests.support.rows import apply

T0 = 1_700_000_000_000


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


# --- delay_s, run_at, timeout_s ---------------------------------------------------------------


def test_delay_s_sets_run_at() -> None:
    assert parse_timing({"delay_s": 2.5}, T0, 1800).run_at == T0 + 2500


def test_run_at_in_the_past_means_now() -> None:
    assert parse_timing({"run_at": "2001-01-01T00:00:00Z"}, T0, 1800).run_at is None


def test_run_at_in_lower_case_and_with_a_leap_second() -> None:
    timing = parse_timing({"run_at": "2023-11-14t22:13:60z"}, T0, 1800)
    assert timing.run_at == ms("2023-11-14T22:14:00+00:00")


def test_run_at_with_offset() -> None:
    timing = parse_timing({"run_at": "2023-11-14T23:13:21+01:00"}, T0, 1800)
    assert timing.run_at == ms("2023-11-14T22:13:21+00:00")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"delay_s": 0}, UnprocessableError),
        ({"delay_s": MAX_DELAY_S + 1}, UnprocessableError),
        ({"delay_s": "5"}, ValidationError),
        ({"delay_s": True}, ValidationError),
        ({"delay_s": 1, "run_at": "2030-01-01T00:00:00Z"}, UnprocessableError),
        ({"run_at": "tomorrow"}, ValidationError),
        ({"run_at": "2023-11-15T00:00:00"}, ValidationError),  # no offset
        ({"run_at": "2023-12-30T00:00:00Z"}, UnprocessableError),  # > 30 days ahead
        ({"timeout_s": 0}, ValidationError),
        ({"timeout_s": 1801}, UnprocessableError),
    ],
)
def test_bad_timing(payload: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_timing(payload, T0, 1800)


def test_timeout_s() -> None:
    assert parse_timing({"timeout_s": 30}, T0, 1800).timeout_s == 30.0


# --- schedules --------------------------------------------------------------------------------


def test_cron_is_daylight_saving_correct() -> None:
    spec = Recurrence("n", "sum", "{}", cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29 02:30 does not exist in Berlin: that day fires at 03:00 (cronsim's rule).
    after = ms("2026-03-28T03:00:00+01:00")
    first = spec.next_after(after)
    second = spec.next_after(first)
    berlin = ZoneInfo("Europe/Berlin")
    assert datetime.fromtimestamp(first / 1000, berlin).isoformat() == "2026-03-29T03:00:00+02:00"
    assert datetime.fromtimestamp(second / 1000, berlin).isoformat() == "2026-03-30T02:30:00+02:00"


def test_missed_cron_times_fire_once() -> None:
    spec = Recurrence("n", "sum", "{}", cron="* * * * *", timezone="UTC")
    fired_at = ms("2026-01-01T00:00:00+00:00")
    now = ms("2026-01-01T00:10:30+00:00")  # ten missed minutes
    assert spec.next_due(fired_at, now) == ms("2026-01-01T00:11:00+00:00")


def test_every_s_keeps_its_grid_after_downtime() -> None:
    spec = Recurrence("n", "sum", "{}", every_s=10)
    assert spec.next_due(T0, T0) == T0 + 10_000
    assert spec.next_due(T0, T0 + 95_000) == T0 + 100_000


def create(body: dict[str, Any]) -> Recurrence:
    return parse_create(orjson.dumps(body), 1800)


def test_parse_create_defaults_to_utc() -> None:
    spec = create({"name": "nightly", "action": "sum", "cron": "0 3 * * *"})
    assert (spec.timezone, spec.enabled, spec.data_json) == ("UTC", True, "{}")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": "x", "action": "sum", "cron": "61 * * * *"}, UnprocessableError),
        (
            {"name": "x", "action": "sum", "cron": "* * * * *", "timezone": "Mars/Base"},
            UnprocessableError,
        ),
        ({"name": "x", "action": "sum"}, UnprocessableError),
        ({"name": "x", "action": "sum", "cron": "* * * * *", "every_s": 5}, UnprocessableError),
        (
            {"name": "x", "action": "sum", "cron": "* * * * *", "timezone": "Etc"},
            UnprocessableError,
        ),
        ({"name": "x", "action": "sum", "every_s": 0.5}, UnprocessableError),
        ({"name": "x y", "action": "sum", "every_s": 5}, ValidationError),
        ({"name": "x", "action": "sum", "every_s": 5, "extra": 1}, ValidationError),
        ({"name": "x", "action": "sum", "every_s": 5, "enabled": "yes"}, ValidationError),
        (
            {"name": "x", "action": "sum", "every_s": 5, "data": {"numbers": "no"}},
            UnprocessableError,
        ),
    ],
)
def test_bad_schedules(body: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        create(body)


def test_patch_switches_between_cron_and_every_s() -> None:
    spec = create({"name": "x", "action": "sum", "every_s": 5})
    cron = parse_patch(b'{"cron": "0 * * * *", "timezone": "Asia/Tokyo"}', spec, 1800)
    assert (cron.cron, cron.timezone, cron.every_s) == ("0 * * * *", "Asia/Tokyo", None)
    back = parse_patch(b'{"every_s": 60, "enabled": false}', cron, 1800)
    assert (back.cron, back.timezone, back.every_s, back.enabled) == (None, None, 60.0, False)


# --- transitions on a real file ---------------------------------------------------------------


@pytest.fixture
def db(db_path: str) -> Iterator[sqlite3.Connection]:
    # rows as tuples, not the sqlite3.Row of tests/api/conftest.py's `conn`: these tests compare
    # them with tuples
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        configure(conn)
        yield conn


def scheduled(db: sqlite3.Connection, run_at: int) -> str:
    task_id = str(uuid.uuid4())
    apply(db, insert_task(task_id, "sum", "{}", T0, run_at=run_at))
    return task_id


def status(db: sqlite3.Connection, task_id: str) -> str | None:
    row = db.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return None if row is None else str(row[0])


def test_dispatch_takes_only_due_tasks_once(db: sqlite3.Connection) -> None:
    due = scheduled(db, T0 + 1000)
    later = scheduled(db, T0 + 5000)
    assert apply(db, transitions.dispatch_due(T0 + 1000, 10)) == [
        (due, "sum", "{}", T0 + 1000, "normal")
    ]
    # A second dispatcher (another API process) finds nothing left to take.
    assert apply(db, transitions.dispatch_due(T0 + 1000, 10)) == []
    assert (status(db, due), status(db, later)) == ("queued", "scheduled")
    row = db.execute("SELECT published, queued_at FROM tasks WHERE id = ?", (due,)).fetchone()
    assert row == (0, T0 + 1000)  # in the outbox until the broker confirms


def test_a_scheduled_task_cannot_be_claimed(db: sqlite3.Connection) -> None:
    task_id = scheduled(db, T0 + 1000)
    assert not apply(db, transitions.claim(task_id, "token", T0)).applied
    assert status(db, task_id) == "scheduled"


def test_claim_answers_the_time_limit(db: sqlite3.Connection) -> None:
    task_id = str(uuid.uuid4())
    apply(db, insert_task(task_id, "sum", "{}", T0, timeout_s=2.5))
    assert apply(db, transitions.claim(task_id, "token", T0)).timeout_s == 2.5


def finished(db: sqlite3.Connection, processed_at: int, final: str = "completed") -> str:
    task_id = str(uuid.uuid4())
    apply(db, insert_task(task_id, "sum", "{}", T0))
    db.execute(
        "UPDATE tasks SET status = ?, processed_at = ? WHERE id = ?",
        (final, processed_at, task_id),
    )
    return task_id


def test_purge_removes_old_final_tasks_and_their_dead_letters(db: sqlite3.Connection) -> None:
    old = [finished(db, T0), finished(db, T0 + 1, "failed")]
    fresh = finished(db, T0 + 10_000)
    running = scheduled(db, T0)
    apply(db, transitions.record_dead_letter(old[1], "rejected", "{}", T0))
    assert apply(db, transitions.purge_final(T0 + 5000, 1)) == 1  # a batch at a time
    assert apply(db, transitions.purge_final(T0 + 5000, 1)) == 1
    assert apply(db, transitions.purge_final(T0 + 5000, 1)) == 0
    assert [status(db, t) for t in [*old, fresh, running]] == [None, None, "completed", "scheduled"]
    assert db.execute("SELECT COUNT(*) FROM dead_letters").fetchone() == (0,)


def test_delete_only_final(db: sqlite3.Connection) -> None:
    done, waiting = finished(db, T0), scheduled(db, T0 + 1)
    assert apply(db, transitions.delete_final(waiting)) == "scheduled"
    assert apply(db, transitions.delete_final(done)) == "completed"
    assert apply(db, transitions.delete_final(done)) is None
    assert status(db, waiting) == "scheduled"


def test_a_firing_happens_once(db: sqlite3.Connection) -> None:
    spec = Recurrence("every", "sum", "{}", every_s=10)
    apply(db, schedule_store.create(spec, T0, T0))
    first = apply(db, schedule_store.fire(spec, T0, T0 + 10_000, str(uuid.uuid4()), T0))
    # A second API process read the same due row: its conditional update finds it moved on.
    second = apply(db, schedule_store.fire(spec, T0, T0 + 10_000, str(uuid.uuid4()), T0))
    assert first is not None and second is None
    row = db.execute("SELECT schedule, status FROM tasks").fetchall()
    assert row == [("every", "queued")]
    assert db.execute("SELECT key FROM idempotency_keys").fetchall() == [
        ("schedule:every:2023-11-14T22:13:20.000Z",)
    ]


def test_retention_looks_at_a_fraction_of_its_ttl() -> None:
    assert purge_interval(1) == 0.5  # never busier than twice a second
    assert purge_interval(60) == 15
    assert purge_interval(7 * 86400) == 60  # never idler than a minute


async def test_a_ttl_of_zero_keeps_everything() -> None:
    retention = Retention(cast(BatchWriter, None), 0, ApiMetrics())
    retention.start()
    assert retention._task is None  # no loop at all: nothing is ever purged
    await retention.close()

"""The outbox and the dead-letter recording, in-process and fast (as arq's worker fixture): a
real migrated SQLite file, the real group-commit writer, and a stub publisher and messages in
place of the broker. What crosses a process boundary stays in tests/reliability."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from typing import Any

import aiosqlite
import orjson
import pytest

from services.api.deadletters import DeadLetters
from services.api.metrics import ApiMetrics
from services.api.outbox import Outbox
from shared.clock import now_ms
from shared.config import Settings
from shared.db import BatchWriter, open_reader
from shared.errors import PublishError
from shared.models import Envelope
from shared.names import Priority
from tests.support.rows import plant_into


class StubPublisher:
    """Takes every message, or refuses from the `refuse_from`-th one on."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Priority]] = []
        self.refuse_from: int | None = None

    async def publish(self, envelope: Envelope, priority: Priority = Priority.NORMAL) -> None:
        if self.refuse_from is not None and len(self.sent) >= self.refuse_from:
            raise PublishError("no confirm")
        self.sent.append((envelope.id, priority))


class DeadMessage:
    """A dead-queue delivery that remembers how it was settled."""

    def __init__(self, body: bytes, headers: dict[str, Any]) -> None:
        self.body = body
        self.headers = headers
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        self.settled.append(f"nack(requeue={requeue})")


@pytest.fixture
async def parts(db_path: str) -> AsyncIterator[tuple[BatchWriter, aiosqlite.Connection]]:
    writer = BatchWriter(db_path)
    await writer.start()
    reader = await open_reader(db_path)
    yield writer, reader
    await reader.close()
    await writer.close()


def rows(db_path: str) -> dict[str, sqlite3.Row]:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.row_factory = sqlite3.Row
        return {r["id"]: r for r in conn.execute("SELECT * FROM tasks")}


@pytest.fixture
def publisher() -> StubPublisher:
    return StubPublisher()


@pytest.fixture
def outbox(parts: tuple[BatchWriter, aiosqlite.Connection], publisher: StubPublisher) -> Outbox:
    writer, reader = parts
    settings = Settings(orphan_age_s=5)
    return Outbox(writer, reader, publisher, settings, ApiMetrics())  # type: ignore[arg-type]


@pytest.fixture
def dead_letters(parts: tuple[BatchWriter, aiosqlite.Connection]) -> DeadLetters:
    writer, _ = parts
    return DeadLetters(writer, ApiMetrics())


async def settled() -> None:
    """Let the outbox's batched marks reach the database."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_send_marks_a_task_published_once_the_broker_confirms(
    db_path: str, publisher: StubPublisher, outbox: Outbox
) -> None:
    task_id = plant_into(db_path, published=False)
    await outbox.send(Envelope(task_id, "uppercase", {}), Priority.HIGH)
    await settled()
    assert publisher.sent == [(task_id, Priority.HIGH)]
    assert rows(db_path)[task_id]["published"] == 1


async def test_a_refused_send_leaves_the_row_for_the_sweep(
    db_path: str, publisher: StubPublisher, outbox: Outbox
) -> None:
    publisher.refuse_from = 0
    task_id = plant_into(db_path, published=False)
    with pytest.raises(PublishError):
        await outbox.send(Envelope(task_id, "uppercase", {}), Priority.NORMAL)
    await settled()
    assert rows(db_path)[task_id]["published"] == 0


async def test_the_sweep_resends_only_old_unconfirmed_queued_tasks_in_their_lane(
    db_path: str, publisher: StubPublisher, outbox: Outbox
) -> None:
    old = now_ms() - 60_000
    orphan = plant_into(db_path, published=False, created_at=old, priority="high")
    plant_into(db_path, published=False)  # too young: its confirm may still come
    plant_into(db_path, published=True, created_at=old)  # confirmed
    plant_into(db_path, status="completed", published=False, created_at=old)  # ran already
    assert await outbox.sweep() == 1
    await settled()
    assert publisher.sent == [(orphan, Priority.HIGH)]
    assert rows(db_path)[orphan]["published"] == 1


async def test_the_sweep_stops_at_the_first_refusal(
    db_path: str, publisher: StubPublisher, outbox: Outbox
) -> None:
    publisher.refuse_from = 1
    old = now_ms() - 60_000
    first, second = (plant_into(db_path, published=False, created_at=old + n) for n in range(2))
    assert await outbox.sweep() == 1
    await settled()
    stored = rows(db_path)
    assert (stored[first]["published"], stored[second]["published"]) == (1, 0)


async def test_a_dead_letter_is_recorded_and_its_task_failed_with_the_reason(
    db_path: str, dead_letters: DeadLetters
) -> None:
    task_id = plant_into(db_path, status="running", attempts=20)
    body = Envelope(task_id, "uppercase", {"text": "x"}).encode()
    message = DeadMessage(body, {"x-death": [{"reason": b"delivery_limit"}]})
    await dead_letters.handle(message)  # type: ignore[arg-type]
    assert message.settled == ["ack"]
    row = rows(db_path)[task_id]
    assert (row["status"], row["error"]) == ("failed", "dead-lettered: delivery_limit")
    with closing(sqlite3.connect(db_path)) as conn:
        kept = conn.execute("SELECT task_id, reason, body FROM dead_letters").fetchall()
    assert kept == [(task_id, "delivery_limit", body.decode())]


async def test_a_failed_task_keeps_its_actions_error_and_a_completed_one_stays(
    db_path: str, dead_letters: DeadLetters
) -> None:
    failed = plant_into(db_path, status="failed", attempts=3, error="boom")
    done = plant_into(db_path, status="completed", attempts=1, result={"output": 1})
    for task_id in (failed, done):
        body = Envelope(task_id, "sum", {}).encode()
        await dead_letters.handle(DeadMessage(body, {"x-first-death-reason": "rejected"}))  # type: ignore[arg-type]
    stored = rows(db_path)
    assert (stored[failed]["status"], stored[failed]["error"]) == ("failed", "boom")
    assert stored[done]["status"] == "completed"


async def test_a_poison_message_is_recorded_without_a_task(
    db_path: str, dead_letters: DeadLetters
) -> None:
    message = DeadMessage(b"\xffnot json", {"x-death": [{"reason": "rejected"}]})
    await dead_letters.handle(message)  # type: ignore[arg-type]
    assert message.settled == ["ack"]
    with closing(sqlite3.connect(db_path)) as conn:
        ((task_id, reason),) = conn.execute("SELECT task_id, reason FROM dead_letters").fetchall()
    assert task_id is None and reason.startswith("invalid message") and "rejected" in reason


async def test_a_dead_letter_that_cannot_be_recorded_stays_in_the_queue(
    db_path: str, dead_letters: DeadLetters
) -> None:
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute("DROP TABLE dead_letters")
    body = orjson.dumps({"id": "x"})
    message = DeadMessage(body, {})
    await dead_letters.handle(message)  # type: ignore[arg-type]
    assert message.settled == ["nack(requeue=True)"]

"""The worker's decisions, in-process and fast (as dramatiq's stub_worker): what a delivery leads
to — ack, retry, dead letter, skip — with the owner played by the real state machine on a real
migrated SQLite file, and the broker by a message that records how it was settled."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from services.api.recorder import apply_all
from services.consumer import worker as worker_module
from services.consumer.metrics import ConsumerMetrics
from services.consumer.worker import Worker
from shared.actions import ActionContext, Registry
from shared.broker import delivery_rank
from shared.config import Settings
from shared.db import configure
from shared.errors import PublishError
from shared.models import Envelope
from shared.reports import Answer, Op, Report, decode_answers, encode_answers
from tests.support.rows import plant_task


class StubOwner:
    """Commits each report with the owner's own code, on a real database, and keeps them."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        configure(self.conn)
        self.reports: list[Report] = []

    async def report(self, report: Report, /) -> Answer:
        self.reports.append(report)
        self.conn.execute("BEGIN IMMEDIATE")
        answers = apply_all([report], 1_700_000_000_000)(self.conn)
        self.conn.execute("COMMIT")
        # through the wire format, as the real owner answers
        (answer,) = decode_answers(encode_answers(answers), 1)
        return answer

    def add(self, action: str, data: dict[str, Any], status: str = "queued") -> Envelope:
        task_id = plant_task(self.conn, status=status, action=action, data=data, created_at=0)
        return Envelope(task_id, action, data)

    def row(self, task_id: str) -> tuple[Any, ...]:
        found = self.conn.execute(
            "SELECT status, attempts, result, error FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        return tuple(found) if found is not None else ()


class Delivery:
    """An incoming message that remembers how it was settled."""

    def __init__(self, body: bytes, routing_key: str = "") -> None:
        self.body = body
        self.settled: list[str] = []
        self.headers: dict[str, Any] = {}
        self.routing_key = routing_key

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        self.settled.append(f"nack(requeue={requeue})")

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append(f"reject(requeue={requeue})")


@pytest.fixture
def owner(db_path: str) -> Iterator[StubOwner]:
    stub = StubOwner(db_path)
    with closing(stub.conn):
        yield stub


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The retry queues the worker published to (confirmed), in order."""
    sent: list[str] = []

    async def publish_confirmed(exchange: object, message: object, queue: str, wait: float) -> None:
        sent.append(queue)

    monkeypatch.setattr(worker_module, "publish_confirmed", publish_confirmed)
    return sent


def make_worker(owner: StubOwner, **changes: Any) -> Worker:
    settings = Settings(queue="t", work_delay_ms=0, retry_delays_s=(1.0, 5.0), **changes)
    return Worker(settings, owner, retry_exchange=None, metrics=ConsumerMetrics())  # type: ignore[arg-type]


async def deliver(worker: Worker, envelope: Envelope | bytes) -> Delivery:
    delivery = Delivery(envelope if isinstance(envelope, bytes) else envelope.encode())
    await worker.handle(delivery)  # type: ignore[arg-type]
    return delivery


async def test_a_task_completes_and_is_acked_after_its_outcome(owner: StubOwner) -> None:
    task = owner.add("uppercase", {"text": "hi"})
    delivery = await deliver(make_worker(owner), task)
    assert delivery.settled == ["ack"]
    assert owner.row(task.id) == ("completed", 1, '{"output":"HI"}', None)
    assert [r.op.value for r in owner.reports] == ["claim", "complete"]
    # the claim and the outcome carry one token, unique to this delivery
    assert len({r.token for r in owner.reports}) == 1


async def test_a_failed_attempt_is_marked_then_sent_to_its_retry_queue(
    owner: StubOwner, retries: list[str]
) -> None:
    task = owner.add("fail", {"message": "boom"})
    worker = make_worker(owner, max_attempts=3)
    assert (await deliver(worker, task)).settled == ["ack"]
    assert owner.row(task.id) == ("retrying", 1, None, "boom")
    assert (await deliver(worker, task)).settled == ["ack"]
    assert retries == ["t.retry.1s", "t.retry.5s"]
    # the last attempt fails for good: rejected, so the broker dead-letters it
    assert (await deliver(worker, task)).settled == ["reject(requeue=False)"]
    assert owner.row(task.id) == ("failed", 3, None, "boom")
    assert retries == ["t.retry.1s", "t.retry.5s"]


async def test_a_redelivered_final_task_is_acked_without_running(owner: StubOwner) -> None:
    task = owner.add("uppercase", {"text": "once"})
    worker = make_worker(owner)
    await deliver(worker, task)
    again = await deliver(worker, task)
    assert again.settled == ["ack"]
    assert owner.row(task.id)[:2] == ("completed", 1)
    assert [r.op.value for r in owner.reports] == ["claim", "complete", "claim"]


async def test_the_stored_task_runs_not_what_the_message_says(owner: StubOwner) -> None:
    task = owner.add("uppercase", {"text": "stored"})
    forged = Envelope(task.id, "sum", {"numbers": [1]})
    assert (await deliver(make_worker(owner), forged)).settled == ["ack"]
    assert owner.row(task.id) == ("completed", 1, '{"output":"STORED"}', None)


async def test_a_withdrawn_task_never_runs(owner: StubOwner) -> None:
    """The API answered 503 and removed the row; a late copy of the message must not run."""
    ghost = Envelope(str(uuid.uuid4()), "uppercase", {"text": "x"})
    assert (await deliver(make_worker(owner), ghost)).settled == ["ack"]
    assert [r.op.value for r in owner.reports] == ["claim"]


async def test_a_poison_message_is_rejected_to_the_dead_letter_exchange(owner: StubOwner) -> None:
    assert (await deliver(make_worker(owner), b"not json")).settled == ["reject(requeue=False)"]
    assert owner.reports == []


async def test_a_result_json_cannot_carry_fails_the_attempt(
    owner: StubOwner, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def odd(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        return {"when": object()}

    monkeypatch.setattr(worker_module, "registry", Registry(odd))
    task = owner.add("odd", {})
    worker = make_worker(owner, max_attempts=1)
    assert (await deliver(worker, task)).settled == ["reject(requeue=False)"]
    status, attempts, _, error = owner.row(task.id)
    assert (status, attempts) == ("failed", 1) and "TypeError" in error


async def test_a_retry_the_broker_does_not_confirm_returns_the_delivery(
    owner: StubOwner, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*args: object) -> None:
        raise PublishError("nacked")

    monkeypatch.setattr(worker_module, "publish_confirmed", refused)
    task = owner.add("fail", {})
    delivery = await deliver(make_worker(owner, max_attempts=3), task)
    # not acked: the broker offers it again, and that delivery claims the task anew
    assert delivery.settled == ["nack(requeue=True)"]
    assert owner.row(task.id)[0] == "retrying"


async def test_a_claim_carries_its_deliverys_rank_and_an_older_delivery_is_skipped(
    owner: StubOwner,
) -> None:
    """A returned message comes back with x-delivery-count: its claim outranks the first
    delivery's, so the first delivery's late claim is refused and its delivery only acked."""
    task = owner.add("sleep", {"seconds": 0})
    worker = make_worker(owner)
    redelivered = Delivery(task.encode())
    redelivered.headers = {"x-taskq-attempt": 0, "x-delivery-count": 1}
    claim = await owner.report(
        Report(Op.CLAIM, task.id, "the-redelivery", rank=delivery_rank(redelivered.headers))
    )
    assert claim.applied
    first = await deliver(worker, task)
    assert owner.reports[-1].rank == 0 and owner.reports[-1].op is Op.CLAIM
    assert first.settled == ["ack"]
    assert owner.row(task.id)[:2] == ("running", 1)

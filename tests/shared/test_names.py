"""Wire names and the queue arguments derived from TASKQ_QUEUE, in one place."""

from __future__ import annotations

import pytest

from shared.broker import (
    dead_queue_arguments,
    redact,
    retry_queue_arguments,
    work_queue_arguments,
)
from shared.config import Settings
from shared.names import (
    CLAIMABLE_STATUSES,
    FINAL_STATUSES,
    Names,
    Priority,
    Status,
    format_delay,
)


def test_names_for_tasks() -> None:
    names = Names("tasks")
    assert names.exchange == "tasks"
    assert names.work_queue == "tasks"
    assert names.routing_key == "tasks"
    assert names.dlx == "tasks.dlx"
    assert names.dead_queue == "tasks.dead"
    assert names.retry_exchange == "tasks.retry"
    assert names.retry_queue(1) == "tasks.retry.1s"
    assert names.retry_queue(25.0) == "tasks.retry.25s"
    assert names.retry_queue(0.2) == "tasks.retry.200ms"
    assert names.retry_queue(1, Priority.HIGH) == "tasks.high.retry.1s"
    assert names.lane(Priority.NORMAL) == names.work_queue
    assert names.lane(Priority.HIGH) == "tasks.high"
    assert names.priority_of("tasks.high") is Priority.HIGH
    assert names.priority_of("tasks") is Priority.NORMAL
    assert names.control_exchange == "tasks.control"


@pytest.mark.parametrize(
    ("delay", "suffix"), [(1.0, "1s"), (5, "5s"), (0.25, "250ms"), (1.5, "1500ms"), (60, "60s")]
)
def test_format_delay(delay: float, suffix: str) -> None:
    assert format_delay(delay) == suffix


def test_statuses() -> None:
    assert [s.value for s in Status] == [
        "scheduled",
        "queued",
        "running",
        "retrying",
        "completed",
        "failed",
        "cancelled",
    ]
    assert {Status.COMPLETED, Status.FAILED, Status.CANCELLED} == FINAL_STATUSES
    assert {Status.QUEUED, Status.RETRYING, Status.RUNNING} == CLAIMABLE_STATUSES


def test_work_queue_arguments() -> None:
    assert work_queue_arguments(Settings(queue="tasks", delivery_limit=7)) == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "tasks.dlx",
        "x-delivery-limit": 7,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def test_retry_queue_arguments_send_back_to_work() -> None:
    assert retry_queue_arguments(Settings(queue="jobs"), 0.2) == {
        "x-queue-type": "quorum",
        "x-message-ttl": 200,
        "x-dead-letter-exchange": "jobs",
        "x-dead-letter-routing-key": "jobs",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def test_dead_queue_is_quorum() -> None:
    assert dead_queue_arguments() == {"x-queue-type": "quorum"}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:secret@host:5672/", "amqp://guest:***@host:5672/"),
        ("amqp://user@host/", "amqp://user:***@host/"),
        ("amqp://host:5672/", "amqp://host:5672/"),
    ],
)
def test_redact_hides_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown

"""After the migrator, the broker holds exactly the topology taskq relies on, as the management
API reports it (not as we asked for it)."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.names import Names, Priority
from tests.support.broker import Broker, segment
from tests.support.processes import Stack

pytestmark = pytest.mark.integration


def exchange(broker: Broker, name: str) -> dict:
    with broker.api() as api:
        response = api.get(f"/api/exchanges/{segment(broker.vhost)}/{segment(name)}")
        response.raise_for_status()
        return response.json()


def bindings_from(broker: Broker, name: str) -> set[tuple[str, str]]:
    """(destination queue, routing key) of every binding whose source is exchange `name`."""
    with broker.api() as api:
        response = api.get(
            f"/api/exchanges/{segment(broker.vhost)}/{segment(name)}/bindings/source"
        )
        response.raise_for_status()
        return {
            (b["destination"], b["routing_key"])
            for b in response.json()
            if b["destination_type"] == "queue"
        }


def test_the_migrator_declares_the_topology(
    stack: Stack, settings: Settings, broker: Broker
) -> None:
    stack.migrate()
    names = Names(settings.queue)

    for name, kind in [
        (names.exchange, "direct"),
        (names.dlx, "fanout"),
        (names.retry_exchange, "direct"),
        (names.control_exchange, "fanout"),
    ]:
        declared = exchange(broker, name)
        assert (declared["type"], declared["durable"], declared["auto_delete"]) == (
            kind,
            True,
            False,
        ), name

    # each priority lane is a work queue with the same guarantees
    for priority in Priority:
        work = broker.queue(names.lane(priority))
        assert work["durable"] is True
        assert work["type"] == "quorum"
        assert work["arguments"] == {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": names.dlx,
            "x-delivery-limit": settings.delivery_limit,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
    assert names.lane(Priority.NORMAL) == names.work_queue

    dead = broker.queue(names.dead_queue)
    assert (dead["durable"], dead["type"]) == (True, "quorum")
    assert "x-dead-letter-exchange" not in dead["arguments"]

    retry_names = []
    for priority in Priority:
        for delay in settings.retry_delays_s:
            name = names.retry_queue(delay, priority)
            retry_names.append(name)
            retry = broker.queue(name)
            assert (retry["durable"], retry["type"]) == (True, "quorum")
            # a retry goes back to the lane it came from
            assert retry["arguments"] == {
                "x-queue-type": "quorum",
                "x-message-ttl": round(delay * 1000),
                "x-dead-letter-exchange": names.exchange,
                "x-dead-letter-routing-key": names.lane(priority),
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
    base = settings.queue
    assert retry_names == [
        f"{base}.retry.200ms",
        f"{base}.retry.400ms",
        f"{base}.high.retry.200ms",
        f"{base}.high.retry.400ms",
    ]

    assert bindings_from(broker, names.exchange) == {
        (names.lane(p), names.lane(p)) for p in Priority
    }
    assert bindings_from(broker, names.dlx) == {(names.dead_queue, "")}
    assert bindings_from(broker, names.retry_exchange) == {(n, n) for n in retry_names}

    # consumers' reports to the API, reached through the default exchange
    state = broker.queue(names.state_queue)
    assert (state["durable"], state["type"]) == (True, "quorum")
    assert state["arguments"] == {"x-queue-type": "quorum"}

    ours = {found["name"] for found in broker.queues() if found["name"].startswith(settings.queue)}
    lanes = {names.lane(p) for p in Priority}
    assert ours == {*lanes, names.dead_queue, names.state_queue, *retry_names}
    # each consumer process binds a queue of its own to the control exchange; none yet
    assert bindings_from(broker, names.control_exchange) == set()


@pytest.fixture
def default_names(broker: Broker):
    """The documented names are shared by the whole test vhost: remove them after use."""
    yield Settings().queue
    with broker.api() as api:
        vhost = segment(broker.vhost)
        for queue in [
            "tasks",
            "tasks.dead",
            "tasks.state",
            "tasks.retry.1s",
            "tasks.retry.5s",
            "tasks.retry.25s",
            "tasks.high",
            "tasks.high.retry.1s",
            "tasks.high.retry.5s",
            "tasks.high.retry.25s",
        ]:
            api.delete(f"/api/queues/{vhost}/{segment(queue)}")
        for name in ["tasks", "tasks.dlx", "tasks.retry", "tasks.control"]:
            api.delete(f"/api/exchanges/{vhost}/{segment(name)}")


def test_the_default_names_for_tasks(
    stack: Stack, settings: Settings, broker: Broker, settings_with, default_names: str
) -> None:
    """TASKQ_QUEUE=tasks, the documented default: tasks, tasks.dlx → tasks.dead, tasks.retry.*"""
    assert default_names == "tasks"
    stack.settings = settings_with(settings, queue="tasks", retry_delays_s=(1.0, 5.0, 25.0))
    stack.migrate()
    assert broker.queue("tasks")["arguments"]["x-dead-letter-exchange"] == "tasks.dlx"
    assert broker.queue("tasks")["arguments"]["x-delivery-limit"] == 5
    assert bindings_from(broker, "tasks") == {("tasks", "tasks"), ("tasks.high", "tasks.high")}
    assert bindings_from(broker, "tasks.dlx") == {("tasks.dead", "")}
    assert bindings_from(broker, "tasks.retry") == {
        ("tasks.retry.1s", "tasks.retry.1s"),
        ("tasks.retry.5s", "tasks.retry.5s"),
        ("tasks.retry.25s", "tasks.retry.25s"),
        ("tasks.high.retry.1s", "tasks.high.retry.1s"),
        ("tasks.high.retry.5s", "tasks.high.retry.5s"),
        ("tasks.high.retry.25s", "tasks.high.retry.25s"),
    }
    assert broker.queue("tasks.retry.25s")["arguments"]["x-message-ttl"] == 25000

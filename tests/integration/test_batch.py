"""Batch submission with real processes: all or nothing, with one bad item and with the
broker refusing, the whole batch under one Idempotency-Key, and priorities per item."""

from __future__ import annotations

import time
from typing import Any

import aio_pika
import httpx
import pytest

from shared.config import Settings
from shared.names import Names, Priority
from tests.support.broker import Broker
from tests.support.observe import query
from tests.support.processes import Stack
from tests.support.waiting import wait_final_task

pytestmark = pytest.mark.integration


def stored(settings: Settings) -> list[tuple[str, str, str]]:
    rows = query(settings, "SELECT id, status, priority FROM tasks ORDER BY created_at")
    return [(r["id"], r["status"], r["priority"]) for r in rows]


def ready(broker: Broker, queue: str, expected: int) -> int:
    """Messages ready in `queue`, once the management API shows `expected` (its statistics
    lag by seconds) or after 20 s, whatever it shows then."""
    deadline = time.monotonic() + 20
    while True:
        found = int(broker.queue(queue).get("messages_ready", 0))
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def test_a_batch_is_stored_and_queued_whole(
    stack: Stack, settings: Settings, broker: Broker
) -> None:
    stack.migrate()
    stack.api()
    tasks: list[dict[str, Any]] = [{"action": "sum", "data": {"numbers": [i]}} for i in range(5)]
    tasks.append({"action": "uppercase", "data": {"text": "urgent"}, "priority": "high"})
    with httpx.Client(base_url=stack.api_url()) as client:
        accepted = client.post("/tasks/batch", json={"tasks": tasks})
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["count"] == 6 and len(body["ids"]) == 6 == len(set(body["ids"]))
        assert {(i, s) for i, s, _ in stored(settings)} == {(i, "queued") for i in body["ids"]}
        urgent = client.get(f"/tasks/{body['ids'][5]}").json()
        assert (urgent["priority"], urgent["data"]) == ("high", {"text": "urgent"})
        names = Names(settings.queue)
        assert ready(broker, names.lane(Priority.NORMAL), 5) == 5
        assert ready(broker, names.lane(Priority.HIGH), 1) == 1

        stack.consumer()
        for task_id in body["ids"]:
            wait_final_task(client, task_id)
        assert [s for _, s, _ in stored(settings)] == ["completed"] * 6
        assert client.get(f"/tasks/{body['ids'][3]}").json()["result"] == {"output": 3}


def test_a_delayed_item_waits_for_its_time_and_the_rest_run_at_once(
    stack: Stack, settings: Settings
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    tasks: list[dict[str, Any]] = [{"action": "sum", "data": {"numbers": [i]}} for i in range(3)]
    tasks.append({"action": "sum", "data": {"numbers": [9]}, "delay_s": 2, "priority": "high"})
    with httpx.Client(base_url=stack.api_url()) as client:
        accepted = client.post("/tasks/batch", json={"tasks": tasks})
        assert accepted.status_code == 202, accepted.text
        ids = accepted.json()["ids"]
        assert client.get(f"/tasks/{ids[3]}").json()["status"] == "scheduled"
        shown = [wait_final_task(client, i) for i in ids]
        assert [t["status"] for t in shown] == ["completed"] * 4
        delayed = shown[3]
        assert delayed["priority"] == "high" and delayed["result"] == {"output": 9}
        assert delayed["started_at"] >= delayed["run_at"] > delayed["created_at"]
        assert all(t["attempts"] == 1 for t in shown)


def test_one_bad_item_stores_nothing(stack: Stack, settings: Settings, broker: Broker) -> None:
    stack.migrate()
    stack.api()
    good = {"action": "sum", "data": {"numbers": [1]}}
    with httpx.Client(base_url=stack.api_url()) as client:
        refused = client.post(
            "/tasks/batch",
            json={"tasks": [good, good, {"action": "sum", "data": {"numbers": "x"}}, good]},
        )
        assert refused.status_code == 422
        assert refused.json()["index"] == 2
        assert refused.json()["field"] == "data.numbers"
        malformed = client.post("/tasks/batch", json={"tasks": [good, {"data": {}}]})
        assert malformed.status_code == 400
        assert malformed.json()["index"] == 1
        assert client.post("/tasks/batch", json={"tasks": []}).status_code == 400
        too_many = client.post("/tasks/batch", json={"tasks": [good] * 1001})
        assert too_many.status_code == 400
        assert stored(settings) == []
        time.sleep(1)  # anything published would have been confirmed and counted by now
        assert ready(broker, Names(settings.queue).work_queue, 0) == 0


async def test_a_refusing_broker_leaves_nothing_queued(
    stack: Stack,
    settings: Settings,
    broker: Broker,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    stack.migrate()
    stack.api()
    names = Names(settings.queue)
    channel = await amqp.channel()
    exchange = await channel.get_exchange(names.exchange)
    high = await channel.get_queue(names.lane(Priority.HIGH))
    # The high lane unbound: the broker returns its mandatory publishes, the normal ones land.
    await high.unbind(exchange, names.lane(Priority.HIGH))
    tasks = [{"action": "sum", "data": {"numbers": [i]}} for i in range(20)]
    tasks[7]["priority"] = "high"
    try:
        async with httpx.AsyncClient(base_url=stack.api_url()) as client:
            refused = await client.post(
                "/tasks/batch", json={"tasks": tasks}, headers={"Idempotency-Key": "b-1"}
            )
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) > 0
            assert stored(settings) == [], "a batch the broker did not take must leave no row"
    finally:
        await high.bind(exchange, names.lane(Priority.HIGH))
    # the messages that did land find no task: a consumer acks them without running anything
    assert ready(broker, names.work_queue, 19) == 19
    stack.consumer()
    assert ready(broker, names.work_queue, 0) == 0
    assert stored(settings) == []

    # the key was released with the batch: the same request now goes through, once
    async with httpx.AsyncClient(base_url=stack.api_url()) as client:
        first = await client.post(
            "/tasks/batch", json={"tasks": tasks}, headers={"Idempotency-Key": "b-1"}
        )
        assert first.status_code == 202
        again = await client.post(
            "/tasks/batch", json={"tasks": tasks}, headers={"Idempotency-Key": "b-1"}
        )
        assert again.status_code == 202
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = await client.post(
            "/tasks/batch", json={"tasks": tasks[:3]}, headers={"Idempotency-Key": "b-1"}
        )
        assert other.status_code == 422
    assert len(stored(settings)) == 20

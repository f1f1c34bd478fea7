"""When the broker does not take a task, the API says 503 and keeps no `queued` row behind."""

from __future__ import annotations

import sqlite3

import aio_pika
import pytest
from aiohttp.test_utils import TestClient

from shared.config import Settings
from shared.names import Names

pytestmark = pytest.mark.integration


def rows(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in db.execute("SELECT id, status FROM tasks")]


async def assert_refused(client: TestClient, db: sqlite3.Connection) -> None:
    response = await client.post("/tasks", json={"action": "sum", "data": {"numbers": [1]}})
    assert response.status == 503
    assert response.content_type == "application/json"
    assert await response.json() == {"error": "failed to queue task"}
    assert int(response.headers["Retry-After"]) > 0
    assert rows(db) == [], "a task the broker did not take must not stay queued"
    assert (await (await client.get("/tasks")).json())["count"] == 0


async def test_an_unroutable_task_is_503_and_withdrawn(
    client: TestClient,
    db: sqlite3.Connection,
    settings: Settings,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    names = Names(settings.queue)
    channel = await amqp.channel()
    exchange = await channel.get_exchange(names.exchange)
    queue = await channel.get_queue(names.work_queue)
    # Without the binding the broker returns the mandatory publish: it could not be queued.
    await queue.unbind(exchange, names.routing_key)
    try:
        await assert_refused(client, db)
        metrics = await (await client.get("/metrics")).text()
        assert "taskq_publish_failures_total 1.0" in metrics
    finally:
        await queue.bind(exchange, names.routing_key)

    # the same process recovers as soon as the broker routes again
    response = await client.post("/tasks", json={"action": "sum"})
    assert response.status == 202
    task_id = (await response.json())["id"]
    assert rows(db) == [(task_id, "queued")]


async def test_a_full_queue_is_503_and_withdrawn(
    client: TestClient,
    db: sqlite3.Connection,
    settings: Settings,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    """x-overflow=reject-publish: a queue at its limit nacks the publish."""
    names = Names(settings.queue)
    channel = await amqp.channel()
    exchange = await channel.get_exchange(names.exchange)
    # A second queue bound to the same key that takes no messages: the broker confirms only
    # when every queue took the message, so this one's nack fails the publish. Classic, as a
    # quorum queue enforces its limit only once it is exceeded.
    full = await channel.declare_queue(
        f"{names.work_queue}.full",
        durable=True,
        arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )
    await full.bind(exchange, names.routing_key)
    try:
        await assert_refused(client, db)
    finally:
        await full.delete(if_unused=False, if_empty=False)

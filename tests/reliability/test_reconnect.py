"""Guarantee 8: API and consumer find the broker again by themselves, and deliveries caught in a
dead channel are recorded once."""

from __future__ import annotations

import time

import httpx
import pytest

from shared.config import Settings
from shared.names import Names
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.broker import Broker
from tests.support.observe import RowHistory, consumer_metric, consumers_on, query, status_of
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row, wait_until

pytestmark = pytest.mark.integration


def consumer_ready(settings: Settings) -> int:
    return httpx.get(f"http://127.0.0.1:{settings.consumer_port}/readyz", timeout=5).status_code


def test_everything_reconnects_after_the_broker_drops_all_connections(
    stack: Stack, settings: Settings, broker: Broker, client: httpx.Client
) -> None:
    work_queue = Names(settings.queue).work_queue
    stack.migrate()
    stack.api()
    stack.consumer()
    wait_until(lambda: consumers_on(broker, work_queue) == settings.channels, 30, "consumers")
    sleepers = [
        client.post("/tasks", json={"action": "sleep", "data": {"seconds": 1.5}}).json()["id"]
        for _ in range(4)
    ]
    wait_until(
        lambda: all(status_of(settings, t) == "running" for t in sleepers),
        30,
        "the sleepers to be running",
    )
    recordings = RowHistory(settings, sleepers, lambda row: (row["status"], row["processed_at"]))

    # every service's connections listed first, or the close would miss the ones not yet listed
    services = ["taskq-api", "taskq-api-recorder", "taskq-consumer"]
    wait_until(
        lambda: set(services) <= set(broker.connection_names()), 30, "every connection listed"
    )
    # (they reconnect within milliseconds: the not-ready window is another test's business)
    assert broker.close_all_connections() >= len(services)
    wait_until(lambda: consumer_ready(settings) == 200, 60, "the consumer to reconnect")
    wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the API to reconnect")
    wait_until(
        lambda: consumers_on(broker, work_queue) == settings.channels,
        30,
        f"{settings.channels} consumers on the work queue again",
    )
    assert consumer_metric(settings, "taskq_broker_reconnects_total") >= 1

    for task_id in sleepers:
        row = wait_final_row(settings, task_id)
        assert row["status"] == "completed", dict(row)
        assert row["result"] == '{"output":"slept"}'
    time.sleep(0.5)  # let a late duplicate of a sleeper show itself, if there were one
    seen = recordings.stop()
    for task_id, states in seen.items():
        # the result was written once: completed at one moment, never rewritten
        completed = [s for s in states if s[0] == "completed"]
        assert len(completed) == 1, (task_id, states)
        assert states[-1] == completed[0]
    assert query(settings, "SELECT * FROM dead_letters") == []

    # and work goes on through the new connections
    after = client.post("/tasks", json={"action": "uppercase", "data": {"text": "again"}})
    assert after.status_code == 202, after.text
    assert wait_final_row(settings, after.json()["id"])["status"] == "completed"


def test_consumer_readyz_follows_its_broker_connection(
    stack: Stack,
    settings: Settings,
    settings_with,
    broker: Broker,
    make_proxy,
    client: httpx.Client,
) -> None:
    proxy: TcpProxy = make_proxy()
    work_queue = Names(settings.queue).work_queue
    stack.migrate()
    stack.api()
    stack.consumer(settings_with(settings, amqp_url=proxy.url(settings.amqp_url)))

    proxy.cut()
    wait_until(lambda: consumer_ready(settings) == 503, 30, "the consumer to report not ready")
    assert httpx.get(f"http://127.0.0.1:{settings.consumer_port}/healthz").status_code == 200
    wait_until(lambda: consumers_on(broker, work_queue) == 0, 30, "its consumers to go")
    task_id = client.post("/tasks", json={"action": "uppercase", "data": {"text": "x"}}).json()[
        "id"
    ]
    assert consumer_ready(settings) == 503
    assert status_of(settings, task_id) == "queued"  # nobody consumes while it is away

    proxy.restore()
    wait_until(lambda: consumer_ready(settings) == 200, 60, "the consumer to reconnect")
    wait_until(
        lambda: consumers_on(broker, work_queue) == settings.channels, 30, "its consumers back"
    )
    assert wait_final_row(settings, task_id)["status"] == "completed"

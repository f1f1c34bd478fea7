"""Guarantee 9: SIGTERM lets tasks in flight finish and be recorded; what cannot finish within
the grace period goes back to the broker for the next consumer."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.config import Settings
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.observe import query, status_of, task_row
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row, wait_until

pytestmark = pytest.mark.integration


def submit_sleepers(client: httpx.Client, seconds: float, count: int) -> list[str]:
    body = {"action": "sleep", "data": {"seconds": seconds}}
    return [client.post("/tasks", json=body).json()["id"] for _ in range(count)]


def test_sigterm_finishes_and_records_tasks_in_flight(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    consumer = stack.consumer()
    sleepers = submit_sleepers(client, 1, 6)
    wait_until(
        lambda: all(status_of(settings, t) == "running" for t in sleepers),
        30,
        "every sleeper to be running",
    )

    assert consumer.terminate(timeout=60) == 0
    # recorded before the process exited: no other consumer exists to finish them
    for task_id in sleepers:
        row = task_row(settings, task_id)
        assert row is not None and row["status"] == "completed", dict(row or {})
        assert json.loads(row["result"]) == {"output": "slept"}
        assert row["attempts"] == 1
    assert "waiting for 6 tasks in flight" in consumer.log()


def test_a_task_longer_than_the_grace_period_is_redelivered(
    stack: Stack, settings: Settings, settings_with, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    impatient = stack.consumer(settings_with(settings, shutdown_grace_s=0.5))
    (slow,) = submit_sleepers(client, 3, 1)
    (quick,) = submit_sleepers(client, 0.2, 1)
    wait_until(lambda: status_of(settings, slow) == "running", 30, "the slow task to start")
    wait_until(lambda: status_of(settings, quick) == "completed", 30, "the quick task to finish")

    assert impatient.terminate(timeout=60) == 0
    assert status_of(settings, slow) == "running"  # given up, not recorded as anything else
    assert "did not finish in time" in impatient.log()

    stack.consumer()
    row = wait_final_row(settings, slow)
    assert row["status"] == "completed"
    assert row["attempts"] == 2
    assert json.loads(row["result"]) == {"output": "slept"}
    assert query(settings, "SELECT * FROM dead_letters") == []


def test_sigterm_during_a_broker_outage_still_stops_cleanly(
    stack: Stack, settings: Settings, settings_with, make_proxy, client: httpx.Client
) -> None:
    proxy: TcpProxy = make_proxy()
    via_proxy = settings_with(settings, amqp_url=proxy.url(settings.amqp_url))
    stack.migrate()
    api = stack.api(via_proxy)
    consumer = stack.consumer(via_proxy)
    (task_id,) = submit_sleepers(client, 0, 1)
    assert wait_final_row(settings, task_id)["status"] == "completed"

    proxy.cut()
    wait_until(lambda: client.get("/readyz").status_code == 503, 30, "the API to see the outage")
    # SIGKILL comes after 40 s: an exit code of 0 means the process stopped by itself
    assert consumer.terminate(timeout=40) == 0, consumer.log()[-2000:]
    assert api.terminate(timeout=40) == 0, api.log()[-2000:]

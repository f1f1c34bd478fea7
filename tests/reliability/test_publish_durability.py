"""Guarantee 1: a 202 means the broker holds the task; anything else is a quick 503."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from shared.clock import now_ms
from shared.config import Settings
from shared.names import Names
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.broker import Broker, segment
from tests.support.observe import consumer_metric, query, status_of
from tests.support.processes import Stack
from tests.support.rows import plant_into
from tests.support.waiting import wait_final_row, wait_until

pytestmark = pytest.mark.integration

TASK = {"action": "uppercase", "data": {"text": "durable"}}


def assert_not_queued(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "failed to queue task"}
    assert int(response.headers["Retry-After"]) > 0


def assert_queued_and_completed(client: httpx.Client, settings: Settings) -> None:
    """A new task is accepted and runs: the API publishes again after the fault."""
    response = client.post("/tasks", json=TASK)
    assert response.status_code == 202, response.text
    assert wait_final_row(settings, response.json()["id"])["status"] == "completed"


def ready(client: httpx.Client) -> int:
    return client.get("/readyz").status_code


def plant_failed(settings: Settings) -> str:
    now = now_ms()
    return plant_into(
        settings.db_path,
        status="failed",
        error="earlier",
        attempts=3,
        created_at=now,
        processed_at=now,
    )


def row_ids(settings: Settings) -> set[str]:
    return {r["id"] for r in query(settings, "SELECT id FROM tasks")}


def test_broker_down_means_503_then_publishing_resumes(
    settings: Settings, api_via_proxy: Callable[..., TcpProxy], client: httpx.Client
) -> None:
    proxy = api_via_proxy(publish_timeout_s=1)
    accepted = [client.post("/tasks", json=TASK).json()["id"]]
    failed = plant_failed(settings)

    proxy.cut()
    wait_until(lambda: ready(client) == 503, 30, "/readyz to report the broker gone")
    assert client.get("/readyz").json()["broker"] is False
    for _ in range(5):
        assert_not_queued(client.post("/tasks", json=TASK))
    # replays cannot be queued either, and say so the same way
    assert_not_queued(client.post(f"/tasks/{failed}/retry"))
    assert_not_queued(client.post("/tasks/retry", params={"status": "failed"}))
    assert status_of(settings, failed) == "failed"
    # the rest of the API keeps answering
    assert client.get("/healthz").status_code == 200
    assert client.get("/tasks").status_code == 200
    assert client.get(f"/tasks/{accepted[0]}").status_code == 200
    assert client.get("/metrics").status_code == 200
    stats = client.get("/stats")
    assert stats.status_code == 200 and stats.json()["queues"] is None
    assert ready(client) == 503

    proxy.restore()
    wait_until(lambda: ready(client) == 200, 60, "/readyz to recover without a restart")
    response = client.post("/tasks", json=TASK)
    assert response.status_code == 202, response.text
    accepted.append(response.json()["id"])
    for task_id in accepted:
        assert wait_final_row(settings, task_id)["status"] == "completed"
    # every 503 withdrew its row: the database holds exactly the accepted tasks
    assert row_ids(settings) == {*accepted, failed}
    replayed = client.post(f"/tasks/{failed}/retry")
    assert replayed.status_code == 202, replayed.text
    assert wait_final_row(settings, failed)["status"] == "completed"


def test_unconfirmed_publish_times_out_to_503(
    settings: Settings, api_via_proxy: Callable[..., TcpProxy], client: httpx.Client
) -> None:
    """A stalled network: the publish leaves, no confirm comes back within the timeout."""
    proxy = api_via_proxy(publish_timeout_s=1)

    proxy.freeze()
    try:
        assert_not_queued(client.post("/tasks", json=TASK, timeout=20))
    finally:
        proxy.restore()
    # the stalled message reaches the broker after all; its task was withdrawn, so the consumer
    # skips it rather than running a task the client was told failed
    wait_until(
        lambda: consumer_metric(settings, "taskq_deliveries_skipped_total", why="unknown") == 1,
        30,
        "the consumer to skip the withdrawn task",
    )
    assert row_ids(settings) == set()
    assert_queued_and_completed(client, settings)


def test_returned_publish_is_503(
    stack: Stack, settings: Settings, broker: Broker, client: httpx.Client
) -> None:
    """Mandatory publish with no queue bound: the broker returns it, the API says 503."""
    names = Names(settings.queue)
    stack.migrate()
    stack.api()
    stack.consumer()
    binding = f"/api/bindings/{segment(broker.vhost)}/e/{segment(names.exchange)}/q/{segment(names.work_queue)}"
    with broker.api() as api:
        api.delete(f"{binding}/{segment(names.routing_key)}").raise_for_status()
        try:
            assert_not_queued(client.post("/tasks", json=TASK))
            assert row_ids(settings) == set()
        finally:
            api.post(binding, json={"routing_key": names.routing_key}).raise_for_status()
    assert_queued_and_completed(client, settings)


def test_nacked_publish_is_503_until_the_queue_drains(
    stack: Stack, settings: Settings, broker: Broker, client: httpx.Client
) -> None:
    """A full queue (x-overflow reject-publish) nacks the publish: 503, no row left behind;
    once consumers drain it, the same API process is accepted again."""
    names = Names(settings.queue)
    stack.migrate()
    stack.api()
    policy = f"/api/policies/{segment(broker.vhost)}/full-{names.work_queue}"
    accepted: list[str] = []
    with broker.api() as api:
        api.put(
            policy,
            json={
                "pattern": f"^{names.work_queue}$",
                "definition": {"max-length": 1},
                "apply-to": "queues",
            },
        ).raise_for_status()
        try:
            wait_until(
                lambda: effective_policy(broker, names.work_queue).get("max-length") == 1,
                30,
                "the max-length policy to apply",
            )
            # no consumer yet: the queue fills, and the broker starts refusing
            refused = None
            for _ in range(10):
                response = client.post("/tasks", json=TASK)
                if response.status_code != 202:
                    refused = response
                    break
                accepted.append(response.json()["id"])
            assert refused is not None, "the broker never nacked a publish to a full queue"
            assert_not_queued(refused)
            assert row_ids(settings) == set(accepted)

            stack.consumer()
            for task_id in accepted:
                assert wait_final_row(settings, task_id)["status"] == "completed"
            assert_queued_and_completed(client, settings)
        finally:
            # (RabbitMQ 3.10 keeps refusing a channel whose queue lost its limit while full, so
            # the policy goes only once the queue has drained.)
            api.delete(policy).raise_for_status()


def effective_policy(broker: Broker, queue: str) -> dict:
    return broker.queue(queue).get("effective_policy_definition") or {}

"""Time with real processes: a delayed task starts no earlier than its run_at and survives a
kill -9 of the API and the consumer; a schedule fires across an API restart, and with two APIs,
never twice for one fire time; an attempt over its time limit fails; retention purges."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from shared.config import Settings
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.observe import metric, query, status_of, task_row
from tests.support.processes import ServiceProcess, Stack, free_port
from tests.support.waiting import wait_final_row, wait_until

pytestmark = pytest.mark.integration
Replace = Callable[..., Settings]


def ms(rfc3339: str) -> int:
    return round(datetime.fromisoformat(rfc3339).timestamp() * 1000)


def test_a_delayed_task_runs_not_before_its_time(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    response = client.post("/tasks", json={"action": "sum", "data": {"numbers": [2]}, "delay_s": 2})
    assert response.status_code == 202
    assert response.json()["status"] == "scheduled"
    task_id = response.json()["id"]
    assert client.get(f"/tasks/{task_id}").json()["status"] == "scheduled"
    row = wait_final_row(settings, task_id)
    assert row["status"] == "completed" and row["attempts"] == 1
    assert row["started_at"] >= row["run_at"]


def test_a_delayed_task_survives_kill_9_of_api_and_consumer(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    api = stack.api()
    consumer = stack.consumer()
    task_id = client.post("/tasks", json={"action": "sum", "delay_s": 3}).json()["id"]
    api.kill()
    consumer.kill()
    row = task_row(settings, task_id)
    assert row is not None and row["status"] == "scheduled"
    # Down past its due time: it is late, but neither lost nor run twice.
    time.sleep(4)
    stack.api()
    stack.consumer()
    row = wait_final_row(settings, task_id)
    assert row["status"] == "completed" and row["attempts"] == 1
    assert row["started_at"] >= row["run_at"]
    assert query(settings, "SELECT * FROM dead_letters") == []


def test_a_due_task_whose_publish_fails_is_published_later(
    stack: Stack,
    settings: Settings,
    settings_with: Replace,
    make_proxy: Callable[[], TcpProxy],
    client: httpx.Client,
) -> None:
    proxy = make_proxy()
    cut_off = settings_with(
        settings, amqp_url=proxy.url(settings.amqp_url), orphan_age_s=1, publish_timeout_s=1
    )
    stack.migrate()
    api = stack.api(cut_off)
    stack.consumer()
    task_id = client.post("/tasks", json={"action": "sum", "delay_s": 1}).json()["id"]
    proxy.cut()  # the API loses the broker before the task is due
    wait_until(lambda: status_of(settings, task_id) == "queued", 30, "the dispatch")
    wait_until(lambda: "due task not published yet" in api.log(), 30, "the failed publish")
    row = task_row(settings, task_id)
    assert row is not None and row["published"] == 0  # kept in the outbox, not lost
    proxy.restore()
    row = wait_final_row(settings, task_id)
    assert row["status"] == "completed" and row["attempts"] == 1


def dispatched(api_port: int) -> float:
    """taskq_tasks_dispatched_total on one API process's /metrics."""
    return metric(api_port, "taskq_tasks_dispatched_total")


def test_two_apis_never_dispatch_one_delayed_task_twice(
    stack: Stack, settings: Settings, settings_with: Replace, client: httpx.Client
) -> None:
    """Both API processes run a dispatcher on the one database: each due task is taken by one
    of them (a conditional UPDATE), published once, and run once."""
    stack.migrate()
    stack.api()
    second = settings_with(settings, http_port=free_port())
    stack.api(second)
    stack.consumer()
    due = [
        client.post("/tasks", json={"action": "sum", "data": {"numbers": [n]}, "delay_s": 1.5})
        for n in range(60)
    ]
    ids = [r.json()["id"] for r in due]
    rows = [wait_final_row(settings, task_id) for task_id in ids]
    assert all(r["status"] == "completed" and r["attempts"] == 1 for r in rows)
    assert dispatched(settings.http_port) + dispatched(second.http_port) == len(ids)


def fire_times(settings: Settings, name: str) -> list[int]:
    """The fire time of every task the schedule created, from its idempotency key."""
    rows = query(
        settings,
        "SELECT k.key FROM tasks t JOIN idempotency_keys k ON k.task_id = t.id"
        " WHERE t.schedule = ? ORDER BY k.key",
        (name,),
    )
    return [ms(row["key"].removeprefix(f"schedule:{name}:")) for row in rows]


@pytest.mark.parametrize(
    "when",
    [{"every_s": 1}, {"cron": "* * * * * *", "timezone": "Europe/Berlin"}],
    ids=["every_s", "cron"],
)
def test_a_schedule_fires_across_an_api_restart_and_two_apis_without_doubling(
    stack: Stack,
    settings: Settings,
    settings_with: Replace,
    client: httpx.Client,
    when: dict[str, object],
) -> None:
    stack.migrate()
    api = stack.api()
    second = settings_with(settings, http_port=free_port())
    other = stack.api(second)  # a second API process on the same database
    stack.consumer()
    body = {"name": "tick", "action": "sum", "data": {"numbers": [1]}, **when}
    assert client.post("/schedules", json=body).status_code == 201
    wait_until(lambda: len(fire_times(settings, "tick")) >= 3, 30, "three firings")

    api.kill()
    stopped = int(time.time() * 1000)
    # Only the second API is left: it goes on firing. Then it goes too, for several periods.
    wait_until(lambda: len(fire_times(settings, "tick")) >= 5, 30, "firings by the second API")
    other.kill()
    down = int(time.time() * 1000)
    time.sleep(3.5)
    restarted = int(time.time() * 1000)
    stack.api()
    wait_until(
        lambda: [t for t in fire_times(settings, "tick") if t > restarted][:2],
        30,
        "firings after the restart",
    )

    times = fire_times(settings, "tick")
    assert len(times) == len(set(times)), "one fire time became two tasks"
    tasks = query(settings, "SELECT COUNT(*) AS n FROM tasks WHERE schedule = 'tick'")[0]["n"]
    assert tasks == len(times)
    # The three and a half seconds without any API fired once, not once per missed second.
    missed = [t for t in times if down < t <= restarted]
    assert len(missed) <= 1
    assert any(t > stopped for t in times)
    shown = client.get("/schedules/tick").json()
    assert shown["last_task_id"] is not None
    last = client.get(f"/tasks/{shown['last_task_id']}").json()
    assert last["schedule"] == "tick"
    for task_id in [r["id"] for r in query(settings, "SELECT id FROM tasks")]:
        assert wait_final_row(settings, task_id)["status"] == "completed"


def test_an_attempt_over_its_time_limit_fails_and_retries(
    stack: Stack, settings: Settings, settings_with: Replace, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer(settings_with(settings, max_attempts=2))
    body = {"action": "sleep", "data": {"seconds": 30}, "timeout_s": 0.5}
    task_id = client.post("/tasks", json=body).json()["id"]
    row = wait_final_row(settings, task_id)
    assert row["status"] == "failed"
    assert row["error"] == "timed out after 0.5 s"
    assert row["attempts"] == 2


def test_a_consumer_refuses_a_time_limit_over_the_consumer_timeout(
    stack: Stack, settings: Settings, settings_with: Replace
) -> None:
    too_long = settings_with(settings, task_timeout_s=3600, consumer_timeout_s=1800)
    proc = ServiceProcess("consumer", too_long, stack.log_dir)
    stack.started.append(proc)
    assert proc.wait(30) != 0
    assert "exceeds the broker's consumer_timeout" in proc.log()
    assert "rabbitmq.conf" in proc.log()


def purged(settings: Settings) -> float:
    return metric(settings.http_port, "taskq_tasks_purged_total")


def test_retention_purges_final_tasks(
    stack: Stack, settings: Settings, settings_with: Replace, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api(settings_with(settings, result_ttl_s=1))
    stack.consumer()
    expiring = client.post("/tasks", json={"action": "sum"}).json()["id"]
    waiting = client.post("/tasks", json={"action": "sum", "delay_s": 600}).json()["id"]
    assert wait_final_row(settings, expiring)["status"] == "completed"
    wait_until(lambda: status_of(settings, expiring) is None, 30, "the purge")
    assert client.get(f"/tasks/{expiring}").status_code == 404
    assert purged(settings) >= 1
    assert status_of(settings, waiting) == "scheduled"  # not final: never purged


def test_delete_removes_one_final_task_with_its_dead_letters(
    stack: Stack, settings: Settings, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api()
    stack.consumer()
    failing = client.post("/tasks", json={"action": "fail", "data": {}}).json()["id"]
    waiting = client.post("/tasks", json={"action": "sum", "delay_s": 600}).json()["id"]
    assert client.delete(f"/tasks/{waiting}").status_code == 409
    assert wait_final_row(settings, failing)["status"] == "failed"
    dead = "SELECT * FROM dead_letters WHERE task_id = ?"
    wait_until(lambda: query(settings, dead, (failing,)), 30, "the dead letter")
    assert client.delete(f"/tasks/{failing}").status_code == 204
    assert client.get(f"/tasks/{failing}").status_code == 404
    assert client.delete(f"/tasks/{failing}").status_code == 404
    assert query(settings, dead, (failing,)) == []
    assert purged(settings) == 1
    assert status_of(settings, waiting) == "scheduled"

"""Looking at the system from outside: SQLite read directly, the consumer's metrics, the broker's
management API, and polling with a bound."""

from __future__ import annotations

import base64
import sqlite3
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.config import Settings
from tests.support.broker import Broker

T = TypeVar("T")

FINAL = {"completed", "failed"}


def wait_until(
    check: Callable[[], T | Literal[False] | None], timeout: float, what: str, every: float = 0.05
) -> T:
    """Poll `check` until it returns something truthy (returned); fail naming `what` after
    `timeout` s. A check may say "not yet" with None or False (`cond and value`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(every)


def query(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows straight from the services' SQLite file (read-only, beside the running writers)."""
    conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Write to the services' database behind their back (to plant orphans, failed tasks...)."""
    conn = sqlite3.connect(settings.db_path, timeout=10)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def task_row(settings: Settings, task_id: str) -> sqlite3.Row | None:
    rows = query(settings, "SELECT * FROM tasks WHERE id = ?", (task_id,))
    return rows[0] if rows else None


def status_of(settings: Settings, task_id: str) -> str | None:
    row = task_row(settings, task_id)
    return row["status"] if row is not None else None


def wait_row(
    settings: Settings,
    task_id: str,
    ready: Callable[[sqlite3.Row], object],
    what: str,
    timeout: float = 30,
    every: float = 0.05,
) -> sqlite3.Row:
    """The task's row once `ready(row)` holds (polled as `wait_until` does)."""

    def check() -> sqlite3.Row | None:
        row = task_row(settings, task_id)
        return row if row is not None and ready(row) else None

    return wait_until(check, timeout, what, every)


def wait_final(settings: Settings, task_id: str, timeout: float = 30) -> sqlite3.Row:
    """The task's row once it is completed or failed."""
    return wait_row(
        settings,
        task_id,
        lambda row: row["status"] in FINAL,
        f"task {task_id} to be final",
        timeout,
    )


def consumer_metric(settings: Settings, name: str, **labels: str) -> float:
    """One sample of the consumer's Prometheus metrics (0 when it has not been seen yet)."""
    text = httpx.get(f"http://127.0.0.1:{settings.consumer_port}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def publish_raw(
    broker: Broker,
    exchange: str,
    routing_key: str,
    body: bytes,
    api: httpx.Client | None = None,
    **properties: Any,
) -> None:
    """Publish any bytes through the management API (persistent); fail unless routed."""
    payload = {
        "properties": {"delivery_mode": 2, **properties},
        "routing_key": routing_key,
        "payload": base64.b64encode(body).decode(),
        "payload_encoding": "base64",
    }
    url = f"/api/exchanges/{_q(broker.vhost)}/{_q(exchange)}/publish"
    if api is None:
        with broker.api() as own:
            response = own.post(url, json=payload)
    else:
        response = api.post(url, json=payload)
    response.raise_for_status()
    assert response.json()["routed"], response.json()


def consumers_on(broker: Broker, queue: str) -> int:
    """Consumers the broker has registered on `queue` (consumer events are not sampled)."""
    with broker.api() as api:
        response = api.get(f"/api/consumers/{_q(broker.vhost)}")
        response.raise_for_status()
        return sum(1 for c in response.json() if c["queue"]["name"] == queue)

"""Looking at the system from outside: SQLite read directly, the consumer's metrics and the
broker's management API. Waiting for what they show is tests/support/waiting.py's job."""

from __future__ import annotations

import base64
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.config import Settings
from tests.support.broker import Broker, segment

S = TypeVar("S")


def query(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows straight from the services' SQLite file (read-only, beside the running writers)."""
    conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def task_row(settings: Settings, task_id: str) -> sqlite3.Row | None:
    rows = query(settings, "SELECT * FROM tasks WHERE id = ?", (task_id,))
    return rows[0] if rows else None


def status_of(settings: Settings, task_id: str) -> str | None:
    row = task_row(settings, task_id)
    return row["status"] if row is not None else None


class RowHistory(Generic[S]):
    """Every distinct `state(row)` each task's row shows from now until `stop()`, read by a
    thread of its own every 10 ms: the test's own polls would miss a state that lasts less."""

    def __init__(
        self, settings: Settings, task_ids: Iterable[str], state: Callable[[sqlite3.Row], S]
    ) -> None:
        self.seen: dict[str, list[S]] = {t: [] for t in task_ids}
        self._settings, self._state = settings, state
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            for task_id, seen in self.seen.items():
                row = task_row(self._settings, task_id)
                if row is None:
                    continue
                state = self._state(row)
                if not seen or seen[-1] != state:
                    seen.append(state)
            time.sleep(0.01)

    def stop(self) -> dict[str, list[S]]:
        self._done.set()
        self._thread.join(10)
        return self.seen


def consumer_metric(settings: Settings, name: str, **labels: str) -> float:
    """One sample of the consumer's Prometheus metrics (0 when it has not been seen yet)."""
    return metric(settings.consumer_port, name, **labels)


def metric(port: int, name: str, **labels: str) -> float:
    """The sum of a service's samples `name` with `labels` on its /metrics at `port` (0 when
    there is none yet; the API's /metrics is open while no API key is set)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


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
    url = f"/api/exchanges/{segment(broker.vhost)}/{segment(exchange)}/publish"
    if api is None:
        with broker.api() as own:
            response = own.post(url, json=payload)
    else:
        response = api.post(url, json=payload)
    response.raise_for_status()
    assert response.json() == {"routed": True}, response.json()


def consumers_on(broker: Broker, queue: str) -> int:
    """Consumers the broker has registered on `queue` (consumer events are not sampled)."""
    with broker.api() as api:
        response = api.get(f"/api/consumers/{segment(broker.vhost)}")
        response.raise_for_status()
        return sum(1 for c in response.json() if c["queue"]["name"] == queue)

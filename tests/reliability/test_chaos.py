"""Guarantee 13, Jepsen-style: thousands of tasks submitted while consumers are killed with
SIGKILL, the broker drops every connection, and the API (the database's one owner) is killed
with SIGKILL and started again; afterwards SQLite must hold exactly the accepted tasks, each
completed once with its result.

A request cut by the API's death is indeterminate, as in Jepsen: its client cannot know whether
the task was taken. Such a request may leave at most one row, and that row must complete too."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.config import Settings
from tests.support.broker import Broker
from tests.support.observe import query
from tests.support.processes import ServiceProcess, Stack, free_port
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

TASKS = 3000
CLIENTS = 16
KILL_EVERY_S = 2.0
MIN_KILLS = 6
CONNECTION_CLOSES = 3
DRAIN_TIMEOUT_S = 120
# The API dies at this consumer kill and stays dead this long: long enough for the consumers
# to notice the owner is gone and say so on /readyz.
API_KILL_AT = 2
API_DOWN_S = 4.0


class Chaos:
    """A thread that kills the oldest consumer every KILL_EVERY_S and starts a fresh one, and
    after every other kill force-closes all broker connections, until stopped."""

    def __init__(
        self, stack: Stack, broker: Broker, api_settings: Settings, consumer_settings
    ) -> None:
        self.stack, self.broker = stack, broker
        self.api_settings = api_settings
        self.consumer_settings = consumer_settings
        self.api = stack.api(api_settings)
        self.live: list[ServiceProcess] = [self.start_consumer(), self.start_consumer()]
        self.kills = 0
        self.closes = 0
        self.api_kills = 0
        # what the consumers' /readyz said while the owner was dead
        self.readiness_without_owner: list[dict[str, object]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start_consumer(self) -> ServiceProcess:
        return self.stack.consumer(self.consumer_settings(consumer_port=free_port()))

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(KILL_EVERY_S):
                self.live.pop(0).kill()
                self.kills += 1
                self.live.append(self.start_consumer())
                if self.closes < CONNECTION_CLOSES and self.kills % 2 == 1:
                    self.broker.close_all_connections()
                    self.closes += 1
                if self.kills == API_KILL_AT:
                    self.kill_api_for_a_while()
        except BaseException as exc:  # surfaced by stop(), so the test fails loudly
            self.error = exc

    def kill_api_for_a_while(self) -> None:
        self.api.kill()
        self.api_kills += 1
        time.sleep(API_DOWN_S)
        for consumer in self.live:
            port = consumer.settings.consumer_port
            answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            self.readiness_without_owner.append({**answer.json(), "http": answer.status_code})
        self.api = self.stack.api(self.api_settings)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        if self.error is not None:
            raise self.error


def test_no_task_is_lost_or_duplicated_under_chaos(
    stack: Stack, settings: Settings, settings_with, broker: Broker
) -> None:
    chaotic = settings_with(settings, work_delay_ms=5, orphan_age_s=5)
    stack.migrate()
    chaos = Chaos(stack, broker, chaotic, lambda **kw: settings_with(chaotic, **kw))

    accepted: dict[str, str] = {}  # id -> the text it was submitted with
    indeterminate: set[str] = set()  # texts whose request the API's death cut
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def client_loop(worker: int) -> None:
        with httpx.Client(base_url=stack.api_url(), timeout=60) as client:
            for n in range(worker, TASKS, CLIENTS):
                text = f"task-{n}"
                try:
                    response = client.post(
                        "/tasks", json={"action": "uppercase", "data": {"text": text}}
                    )
                except httpx.ConnectError:
                    # nothing was sent: the API is dead, so back off as a client would
                    with lock:
                        outcomes["refused"] += 1
                    time.sleep(0.1)
                    continue
                except httpx.TransportError:
                    with lock:
                        outcomes["cut"] += 1
                        indeterminate.add(text)
                    continue
                with lock:
                    outcomes[str(response.status_code)] += 1
                    if response.status_code == 202:
                        accepted[response.json()["id"]] = text
                    else:
                        assert response.status_code == 503, response.text
                        assert response.json() == {"error": "failed to queue task"}

    chaos.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client_loop, range(CLIENTS)))
        # let the chaos also hit the consumers while they work through the backlog
        wait_until(
            lambda: chaos.kills >= MIN_KILLS and chaos.closes >= CONNECTION_CLOSES,
            120,
            "enough chaos",
            every=0.2,
        )
    finally:
        chaos.stop()

    def unsettled() -> int:
        return query(
            settings,
            "SELECT COUNT(*) AS n FROM tasks WHERE status IN ('queued', 'running', 'retrying')",
        )[0]["n"]

    # a backlog that does not drain is reported as stuck below, with the other counts
    with contextlib.suppress(AssertionError):
        wait_until(lambda: unsettled() == 0, DRAIN_TIMEOUT_S, "the backlog to drain", every=0.5)
    rows = {r["id"]: r for r in query(settings, "SELECT * FROM tasks")}

    completed = [i for i in accepted if i in rows and rows[i]["status"] == "completed"]
    failed = [i for i in accepted if i in rows and rows[i]["status"] == "failed"]
    lost = [i for i in accepted if i not in rows]
    rows_per_text = Counter(json.loads(r["data"])["text"] for r in rows.values())
    # a row nobody was told was accepted, unless its request was cut (at most one row each)
    duplicated = [
        i
        for i, r in rows.items()
        if i not in accepted and json.loads(r["data"])["text"] not in indeterminate
    ] + [text for text, n in rows_per_text.items() if n > 1]
    cut_rows = [i for i, r in rows.items() if json.loads(r["data"])["text"] in indeterminate]
    stuck = [i for i, r in rows.items() if r["status"] not in ("completed", "failed")]
    wrong = [
        i for i in completed if json.loads(rows[i]["result"]) != {"output": accepted[i].upper()}
    ]
    redelivered = sum(1 for i in completed if rows[i]["attempts"] > 1)
    print(
        f"\nchaos: submitted={TASKS} accepted={len(accepted)} rejected(503)={outcomes['503']}"
        f" completed={len(completed)} failed={len(failed)} lost={len(lost)}"
        f" duplicated={len(duplicated)} stuck={len(stuck)} wrong_result={len(wrong)}"
        f" redelivered={redelivered} kills={chaos.kills} connection_closes={chaos.closes}"
        f" api_kills={chaos.api_kills} cut_requests={len(indeterminate)}"
        f" cut_with_row={len(cut_rows)} outcomes={dict(outcomes)}"
        f" readiness_without_owner={chaos.readiness_without_owner}"
    )
    assert sum(outcomes.values()) == TASKS
    assert set(outcomes) <= {"202", "503", "refused", "cut"}, outcomes
    assert chaos.api_kills == 1
    # with the owner dead, every consumer says it is not ready, and why
    assert chaos.readiness_without_owner, "no consumer was asked while the API was dead"
    for ready in chaos.readiness_without_owner:
        assert ready["http"] == 503 and ready["owner"] is False, ready
    assert all(rows[i]["status"] == "completed" for i in cut_rows)
    assert lost == [] and duplicated == []
    assert failed == [], [dict(rows[i]) for i in failed[:5]]
    assert stuck == [], [dict(rows[i]) for i in stuck[:5]]
    assert wrong == []
    assert len(completed) == len(accepted) > TASKS // 2
    assert query(settings, "SELECT * FROM dead_letters") == []
    # the consumers came back by themselves: they are ready again with the new API
    for consumer in chaos.live:
        consumer.wait_ready(f"http://127.0.0.1:{consumer.settings.consumer_port}/readyz", 30)

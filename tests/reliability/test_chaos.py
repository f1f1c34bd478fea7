"""Guarantee 13, Jepsen-style: thousands of tasks submitted while consumers are killed with
SIGKILL and the broker drops every connection; afterwards SQLite must hold exactly the accepted
tasks, each completed once with its result."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.config import Settings
from tests.reliability.observe import query, wait_until
from tests.support.broker import Broker
from tests.support.processes import ServiceProcess, Stack, free_port

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

TASKS = 3000
CLIENTS = 16
KILL_EVERY_S = 2.0
MIN_KILLS = 6
CONNECTION_CLOSES = 3
DRAIN_TIMEOUT_S = 120


class Chaos:
    """A thread that kills the oldest consumer every KILL_EVERY_S and starts a fresh one, and
    after every other kill force-closes all broker connections, until stopped."""

    def __init__(self, stack: Stack, broker: Broker, consumer_settings) -> None:
        self.stack, self.broker = stack, broker
        self.consumer_settings = consumer_settings
        self.live: list[ServiceProcess] = [self.start_consumer(), self.start_consumer()]
        self.kills = 0
        self.closes = 0
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
        except BaseException as exc:  # surfaced by stop(), so the test fails loudly
            self.error = exc

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
    stack.api(chaotic)
    chaos = Chaos(stack, broker, lambda **kw: settings_with(chaotic, **kw))

    accepted: dict[str, str] = {}  # id -> the text it was submitted with
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
                except httpx.HTTPError as exc:
                    with lock:
                        outcomes[f"error {type(exc).__name__}"] += 1
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
    duplicated = [i for i in rows if i not in accepted]  # rows nobody was told were accepted
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
        f" outcomes={dict(outcomes)}"
    )
    assert sum(outcomes.values()) == TASKS
    assert set(outcomes) <= {"202", "503"}, outcomes
    assert lost == [] and duplicated == []
    assert failed == [], [dict(rows[i]) for i in failed[:5]]
    assert stuck == [], [dict(rows[i]) for i in stuck[:5]]
    assert wrong == []
    assert len(completed) == len(accepted) > TASKS // 2
    assert query(settings, "SELECT * FROM dead_letters") == []

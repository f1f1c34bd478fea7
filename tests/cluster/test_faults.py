"""taskq on a three-node RabbitMQ cluster, under the faults of issue 9, as Jepsen's RabbitMQ tests
do for the broker: while tasks are submitted over HTTP at about 150 a second, a node is killed,
frozen, restarted in turn, or two of three are stopped. After each: drain, then every task that
got a 202 is `completed` exactly once, no row exists without a 202, nothing is stuck, and the
consumers are back, with no taskq process restarted. The counts are printed (`pytest -s`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import orjson
import pytest

from scripts import cluster
from shared.config import Settings
from shared.names import Names
from tests.support.broker import delete_prefixed, management_api
from tests.support.observe import query
from tests.support.processes import ServiceProcess, Stack, free_port, isolated_settings
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.chaos]

RATE_PER_S = 150
LOAD_S = 30.0
FAULT_AT_S = 5.0
TAIL_S = 10.0  # load goes on this long after the fault is over: the system must take it
CLIENTS = 48
DRAIN_TIMEOUT_S = 180.0
CONSUMERS = 2


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The local cluster: the one `make cluster-up` started, or one of our own, stopped after."""
    already = all(cluster.process_state(n) == "running" for n in cluster.NODES)
    saved = os.environ.get("TASKQ_CLUSTER_DIR")
    if not already:
        os.environ["TASKQ_CLUSTER_DIR"] = str(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.up()
        yield
    finally:
        if not already:
            cluster.down(wipe=True)
        if saved is None:
            os.environ.pop("TASKQ_CLUSTER_DIR", None)
        else:
            os.environ["TASKQ_CLUSTER_DIR"] = saved


def management() -> httpx.Client:
    return management_api(cluster.MGMT_URL)


@pytest.fixture
def settings(nodes: None, tmp_path: Path) -> Iterator[Settings]:
    """Every node's URL, queues of this test's own, a database file of its own."""
    made = isolated_settings(
        cluster.amqp_url_list(),
        tmp_path,
        queue_prefix="c",
        work_delay_ms=5,
        # Every node restart returns the deliveries of the consumers connected to it, and a
        # quorum queue counts each return: a rolling restart alone can return a task 3-4 times.
        # The README recommends this limit on a cluster (RabbitMQ 4.0 made 20 its default).
        delivery_limit=20,
        startup_timeout_s=60,
        retry_delays_s=(0.5, 1.0),
        orphan_age_s=5,
    )
    yield made
    # every node back first: the queues live on all three
    cluster.up()
    with management() as api:
        delete_prefixed(api, "/", made.queue)


@dataclass
class Outcome:
    sent: float
    done: float
    status: int | str  # the HTTP status, or the name of the transport error
    task_id: str | None = None
    text: str = ""
    retry_after: str | None = None


@dataclass
class Load:
    """Paced submissions from many clients; every request's outcome, in send order."""

    url: str
    outcomes: list[Outcome] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def run(self, until: Callable[[], bool]) -> None:
        start = time.monotonic()

        def client() -> None:
            with httpx.Client(base_url=self.url, timeout=30) as http:
                while True:
                    with self._lock:
                        n, self._next = self._next, self._next + 1
                    due = start + n / RATE_PER_S
                    if until():
                        return
                    if time.monotonic() - due > 1.0:
                        continue  # a slot missed while every client waited: skip, no burst
                    time.sleep(max(0.0, due - time.monotonic()))
                    self.one(http, n)

        with ThreadPoolExecutor(CLIENTS) as pool:
            for future in [pool.submit(client) for _ in range(CLIENTS)]:
                future.result()
        self.outcomes.sort(key=lambda o: o.sent)

    def one(self, http: httpx.Client, n: int) -> None:
        text = f"cluster-{n}"
        sent = time.monotonic()
        try:
            response = http.post("/tasks", json={"action": "uppercase", "data": {"text": text}})
        except httpx.TransportError as exc:
            outcome = Outcome(sent, time.monotonic(), type(exc).__name__, text=text)
        else:
            task_id = response.json().get("id") if response.status_code == 202 else None
            outcome = Outcome(
                sent,
                time.monotonic(),
                response.status_code,
                task_id,
                text,
                response.headers.get("Retry-After"),
            )
        with self._lock:
            self.outcomes.append(outcome)

    def accepted(self) -> dict[str, str]:
        return {o.task_id: o.text for o in self.outcomes if o.task_id is not None}

    def longest_503_stretch(self) -> float:
        longest, first = 0.0, None
        for o in self.outcomes:
            if o.status == 503:
                first = o if first is None else first
                longest = max(longest, o.done - first.sent)
            else:
                first = None
        return longest


@dataclass
class Running:
    stack: Stack
    settings: Settings
    api: ServiceProcess
    consumers: list[ServiceProcess]


@pytest.fixture
def running(settings: Settings, tmp_path: Path) -> Iterator[Running]:
    (tmp_path / "logs").mkdir()
    stack = Stack(settings, tmp_path / "logs")
    try:
        stack.migrate()
        api = stack.api()
        consumers = [
            stack.consumer(dataclasses.replace(settings, consumer_port=free_port()))
            for _ in range(CONSUMERS)
        ]
        yield Running(stack, settings, api, consumers)
    finally:
        stack.stop_all()


def rows(settings: Settings) -> dict[str, sqlite3.Row]:
    return {r["id"]: r for r in query(settings, "SELECT * FROM tasks")}


def drained(settings: Settings) -> bool:
    return not any(
        r["status"] in ("queued", "running", "retrying") for r in rows(settings).values()
    )


def consumers_back(run: Running) -> bool:
    for consumer in run.consumers:
        port = consumer.settings.consumer_port
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code != 200:
                return False
    with management() as api, contextlib.suppress(httpx.HTTPError):
        queue = api.get(f"/api/queues/%2F/{Names(run.settings.queue).work_queue}").json()
        return bool(queue.get("consumers") == CONSUMERS * run.settings.channels)
    return False


def stuck_report(run: Running) -> str:
    """What a failed drain leaves behind, to find why: the unfinished rows, the queues as the
    broker sees them, and every log line that names one of those tasks."""
    stuck = {
        i: dict(r)
        for i, r in rows(run.settings).items()
        if r["status"] in ("queued", "running", "retrying")
    }
    lines = [f"{len(stuck)} unfinished tasks:"]
    lines += [
        f"  {i} {r['status']} attempts={r['attempts']} token={r['claim_token']}"
        for i, r in list(stuck.items())[:10]
    ]
    with management() as api, contextlib.suppress(httpx.HTTPError):
        for queue in api.get("/api/queues/%2F").json():
            if queue["name"].startswith(run.settings.queue):
                lines.append(
                    f"  queue {queue['name']}: ready={queue.get('messages_ready')}"
                    f" unacked={queue.get('messages_unacknowledged')}"
                    f" consumers={queue.get('consumers')} leader={queue.get('leader')}"
                )
    wanted = list(stuck)[:10]
    for path in sorted(run.stack.log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if any(i in line for i in wanted) or "Traceback" in line or "ERROR" in line:
                lines.append(f"  {path.name}: {line[:400]}")
    return "\n".join(lines[:200])


def run_fault(run: Running, name: str, fault: Callable[[], None]) -> Load:
    """Load for LOAD_S (longer if the fault takes longer), the fault from FAULT_AT_S, then drain
    and check every guarantee. Returns the load for fault-specific checks."""
    load = Load(f"http://127.0.0.1:{run.settings.http_port}")
    over: list[float] = []
    errors: list[BaseException] = []
    started = time.monotonic()

    def inject() -> None:
        try:
            time.sleep(FAULT_AT_S)
            fault()
        except BaseException as exc:  # surfaced below, so the test fails loudly
            errors.append(exc)
        finally:
            over.append(time.monotonic())

    def enough() -> bool:
        now = time.monotonic()
        return bool(over) and now - over[0] >= TAIL_S and now - started >= LOAD_S

    injector = threading.Thread(target=inject, name=f"fault {name}")
    injector.start()
    load.run(enough)
    injector.join()
    assert not errors, errors
    tail = [o for o in load.outcomes if o.sent >= over[0] + TAIL_S / 2]
    assert any(o.status == 202 for o in tail), "202s again once the fault was over"
    cluster.up()  # whatever the fault left, all three run again
    try:
        wait_until(lambda: drained(run.settings), DRAIN_TIMEOUT_S, "the backlog to drain", 0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stuck_report(run)}") from None
    wait_until(lambda: consumers_back(run), 60, "the consumers to be back on the work queue", 0.5)

    stored = rows(run.settings)
    accepted = load.accepted()
    completed = [i for i in accepted if i in stored and stored[i]["status"] == "completed"]
    lost = [i for i in accepted if i not in stored]
    not_completed = [i for i in accepted if i in stored and stored[i]["status"] != "completed"]
    unaccepted_rows = [i for i in stored if i not in accepted]
    wrong = [
        i for i in completed if orjson.loads(stored[i]["result"]) != {"output": accepted[i].upper()}
    ]
    by_status: dict[str, int] = {}
    for o in load.outcomes:
        by_status[str(o.status)] = by_status.get(str(o.status), 0) + 1
    print(
        f"\ncluster fault {name}: submitted={len(load.outcomes)} accepted={len(accepted)}"
        f" completed={len(completed)} lost={len(lost)} not_completed={len(not_completed)}"
        f" rows_without_202={len(unaccepted_rows)} wrong_result={len(wrong)}"
        f" redelivered={sum(1 for i in completed if stored[i]['attempts'] > 1)}"
        f" outcomes={by_status} longest_503_stretch_s={load.longest_503_stretch():.1f}"
    )
    assert set(by_status) <= {"202", "503"}, by_status
    assert all(o.retry_after for o in load.outcomes if o.status == 503)
    assert lost == [] and not_completed == [] and unaccepted_rows == [] and wrong == []
    assert len(completed) == len(accepted) > 0
    assert run.api.proc.poll() is None, "the API was not restarted"
    assert all(c.proc.poll() is None for c in run.consumers), "no consumer was restarted"
    return load


def test_kill_the_work_queues_leader(running: Running) -> None:
    killed: dict[str, float] = {}

    def fault() -> None:
        leader = cluster.quorum_leader(Names(running.settings.queue).work_queue)
        assert leader is not None
        killed["at"] = time.monotonic()
        killed["node"] = leader  # type: ignore[assignment]
        cluster.kill_node(leader)
        time.sleep(10)
        cluster.start_node(leader)

    load = run_fault(running, "1 kill -9 the leader", fault)
    after = [o for o in load.outcomes if o.sent >= killed["at"]]
    first_202 = next(o for o in after if o.status == 202)
    failover = first_202.done - killed["at"]
    rejected = sum(1 for o in after if o.status == 503)
    print(
        f"failover: killed {killed['node']}; first 202 after the kill {failover:.2f} s later;"
        f" 503s after the kill: {rejected}"
    )


def test_freeze_a_node(running: Running) -> None:
    def fault() -> None:
        # the node the API is connected to, the hardest case: its connection hangs, not drops
        frozen = cluster.NODES[0]
        cluster.freeze(frozen)
        time.sleep(20)
        cluster.thaw(frozen)

    run_fault(running, "2 SIGSTOP a node for 20 s", fault)


def test_rolling_restart(running: Running) -> None:
    def rejoined(target: cluster.Node) -> bool:
        return target.name in cluster.running_nodes(target)

    def fault() -> None:
        for target in cluster.NODES:
            cluster.stop_node(target)
            cluster.start_node(target)
            # an upgrade waits for the node to be back in the cluster before the next
            if not cluster.wait_until(partial(rejoined, target), 60):
                raise AssertionError(f"{target.name} is not back in the cluster after 60 s")

    run_fault(running, "3 rolling restart", fault)


def test_no_majority_answers_503_then_recovers(running: Running) -> None:
    window: dict[str, float] = {}

    def fault() -> None:
        stopped = cluster.NODES[1:]
        for target in stopped:
            cluster.stop_node(target)
        window["from"] = time.monotonic()
        time.sleep(15)
        window["to"] = time.monotonic()
        for target in stopped:
            cluster.start_node(target, wait=False)
        for target in stopped:
            cluster.start_node(target)

    load = run_fault(running, "4 two of three nodes stopped", fault)
    # no majority: every answer is a 503 (never a 202 that could be lost), with Retry-After
    during = [o for o in load.outcomes if window["from"] + 5 <= o.sent <= window["to"]]
    assert during and all(o.status == 503 for o in during), [o.status for o in during]


def test_delayed_tasks_survive_kill_9_of_every_process_and_a_whole_broker_restart(
    running: Running,
) -> None:
    """Issue 11: a scheduled task lives in SQLite until it is due, then as a confirmed message
    in a quorum queue. While ten are scheduled, every taskq process dies with kill -9 and every
    broker node stops; all stay down past the tasks' due time, then start again. Each task
    runs exactly once, not before its time."""
    api_url = f"http://127.0.0.1:{running.settings.http_port}"
    with httpx.Client(base_url=api_url, timeout=30) as http:
        early = [
            http.post(
                "/tasks", json={"action": "uppercase", "data": {"text": f"e{n}"}, "delay_s": 8}
            )
            for n in range(10)
        ]
    assert all(r.status_code == 202 and r.json()["status"] == "scheduled" for r in early)
    ids = [r.json()["id"] for r in early]

    running.api.kill()
    for consumer in running.consumers:
        consumer.kill()
    for node in cluster.NODES:
        cluster.stop_node(node)
    time.sleep(8)  # everything is down when the tasks come due
    for node in cluster.NODES:
        cluster.start_node(node, wait=False)
    cluster.up()
    running.api = running.stack.api()
    running.consumers = [running.stack.consumer(c.settings) for c in running.consumers]
    wait_until(
        lambda: all(
            r["status"] == "completed" for i, r in rows(running.settings).items() if i in ids
        ),
        DRAIN_TIMEOUT_S,
        "the delayed tasks to complete",
        every=0.5,
    )
    stored = rows(running.settings)
    for task_id, text in zip(ids, (f"e{n}" for n in range(10)), strict=True):
        row = stored[task_id]
        assert row["status"] == "completed" and row["attempts"] == 1, dict(row)
        assert orjson.loads(row["result"]) == {"output": text.upper()}
        assert row["started_at"] >= row["run_at"]

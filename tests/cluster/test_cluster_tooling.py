"""`make cluster-up` / `make cluster-down` and the helpers fault tests import from scripts/cluster.py:
a real three-node cluster of Debian's rabbitmq-server on this machine, beside (never joined to) the
machine's own broker on 5672. Its files live in a temporary directory, removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts import cluster
from tests.support.broker import LOCAL_AMQP_URL, LOCAL_MGMT_URL, NO_BROKER, amqp_answers

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parent.parent.parent
NAMES = sorted(node.name for node in cluster.NODES)
MACHINE_NODE = "rabbit@localhost"


def make(target: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def machine_broker_nodes() -> list[str]:
    """The nodes the machine's own broker (5672) says its cluster has, from its management API."""
    mgmt = os.environ.get("TASKQ_TEST_MGMT_URL") or LOCAL_MGMT_URL
    parts = httpx.URL(mgmt)
    with httpx.Client(
        base_url=f"{parts.scheme}://{parts.host}:{parts.port or 15672}",
        auth=(parts.username or "guest", parts.password or "guest"),
        timeout=10,
    ) as api:
        response = api.get("/api/nodes", params={"columns": "name"})
        response.raise_for_status()
        return sorted(node["name"] for node in response.json())


def alive(pid: int | None) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


@pytest.fixture(scope="module")
def cluster_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.CompletedProcess[str]]:
    """`make cluster-up` once for the module; stops the nodes and removes their files after it,
    even when a test fails."""
    if not amqp_answers(LOCAL_AMQP_URL):
        pytest.fail(
            f"the machine's broker on 5672 is needed beside the cluster: {NO_BROKER}", False
        )
    running = [node.name for node in cluster.NODES if cluster.process_state(node) != "stopped"]
    if running:
        pytest.fail(f"{', '.join(running)} already run: `make cluster-down` first", pytrace=False)
    base = tmp_path_factory.mktemp("cluster")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASKQ_CLUSTER_DIR", str(base))
        try:
            started = time.monotonic()
            result = make("cluster-up")
            print(f"make cluster-up took {time.monotonic() - started:.1f} s")
            assert result.returncode == 0, result.stdout + result.stderr
            yield result
        finally:
            cluster.down()
            shutil.rmtree(base, ignore_errors=True)


def test_up_starts_three_nodes_in_one_cluster_without_the_machines_broker(
    cluster_up: subprocess.CompletedProcess[str],
) -> None:
    assert f"TASKQ_AMQP_URL={cluster.amqp_url_list()}" in cluster_up.stdout
    assert cluster.MGMT_URL in cluster_up.stdout
    assert len(cluster.amqp_urls()) == 3
    for node in cluster.NODES:
        assert cluster.process_state(node) == "running", node.name
        assert cluster.amqp_answers(node.amqp_port), node.name
        # every node sees the same three, and the machine's broker is none of them
        assert cluster.running_nodes(via=node) == NAMES
        assert cluster.members(via=node) == NAMES
        assert node.pid_file.is_relative_to(cluster.base_dir())
    assert machine_broker_nodes() == [MACHINE_NODE]
    assert httpx.get(cluster.MGMT_URL + "api/overview", auth=("guest", "guest")).status_code == 200


def test_up_again_says_it_is_up(cluster_up: subprocess.CompletedProcess[str]) -> None:
    started = time.monotonic()
    again = make("cluster-up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already up" in again.stdout
    assert time.monotonic() - started < 15


def test_a_killed_leader_is_replaced_and_rejoins(
    cluster_up: subprocess.CompletedProcess[str],
) -> None:
    queue = f"t-cluster-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=cluster.MGMT_URL, auth=("guest", "guest"), timeout=10) as api:
        declared = api.put(
            f"/api/queues/%2F/{queue}",
            json={"durable": True, "arguments": {"x-queue-type": "quorum"}},
        )
        assert declared.status_code in {201, 204}, declared.text
    try:
        assert cluster.wait_until(lambda: cluster.quorum_leader(queue) is not None, 10)
        leader = cluster.quorum_leader(queue)
        assert leader in NAMES
        cluster.kill_node(leader)
        assert cluster.process_state(leader) == "stopped"
        assert cluster.wait_until(lambda: cluster.quorum_leader(queue) not in {None, leader}, 30)
        cluster.start_node(leader)
        assert cluster.running_nodes() == NAMES

        follower = next(name for name in NAMES if name != cluster.quorum_leader(queue))
        cluster.freeze(follower)
        assert cluster.process_state(follower) == "frozen"
        cluster.thaw(follower)
        assert cluster.process_state(follower) == "running"
    finally:
        for name in NAMES:
            if cluster.process_state(name) == "frozen":
                cluster.thaw(name)
        cluster.ctl(cluster.SEED, "delete_queue", queue)


def test_down_stops_exactly_the_three(cluster_up: subprocess.CompletedProcess[str]) -> None:
    pids = [cluster.pid_of(node) for node in cluster.NODES]
    assert None not in pids
    result = make("cluster-down")
    assert result.returncode == 0, result.stdout + result.stderr
    for node, pid in zip(cluster.NODES, pids, strict=True):
        assert cluster.process_state(node) == "stopped", node.name
        assert not alive(pid), (node.name, pid)
        assert not cluster.amqp_answers(node.amqp_port), node.name
    # the machine's own broker is untouched
    assert amqp_answers(LOCAL_AMQP_URL)
    assert machine_broker_nodes() == [MACHINE_NODE]
    again = make("cluster-down")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not running" in again.stdout

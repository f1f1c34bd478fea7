"""Section 8: the end-to-end run with the throughput settings on the local three-node RabbitMQ
cluster (scripts/cluster.py), beside the single node's in the same run: what replication costs.
It has no target; the table reports it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import e2e
from bench.sections import Context
from bench.stack import BrokerSpace
from scripts import cluster

SKIPPED_QUICK = "skipped in --quick mode (starting the cluster alone takes ~30 s)"


@contextlib.contextmanager
def _cluster_dir(path: Path) -> Iterator[None]:
    """TASKQ_CLUSTER_DIR set to `path` while scripts/cluster.py acts, then as it was."""
    saved = os.environ.get("TASKQ_CLUSTER_DIR")
    os.environ["TASKQ_CLUSTER_DIR"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TASKQ_CLUSTER_DIR", None)
        else:
            os.environ["TASKQ_CLUSTER_DIR"] = saved


@contextlib.contextmanager
def local_cluster(workdir: Path) -> Iterator[float | None]:
    """The local cluster: the one already running (yields None), or one started with its files
    under `workdir`, stopped and wiped after (yields the seconds its start took)."""
    states = {n.short: cluster.process_state(n) for n in cluster.NODES}
    if all(state == "running" for state in states.values()):
        cluster.up()  # only checks that the three form one cluster (and heals it if not)
        yield None
        return
    if any(state != "stopped" for state in states.values()):
        # a fault test's or someone's cluster mid-fault: not ours to start or stop
        found = ", ".join(f"{name} {state}" for name, state in states.items())
        raise cluster.ClusterError(
            f"the local cluster is partly up ({found}): `make cluster-up` or `make cluster-down`"
        )
    ours = workdir / "cluster"
    try:
        with _cluster_dir(ours):
            began = time.perf_counter()
            cluster.up()
            up_s = time.perf_counter() - began
        yield up_s
    finally:  # also when the start failed half-way
        with _cluster_dir(ours):
            cluster.down(wipe=True)


def cluster_end_to_end(ctx: Context) -> dict[str, Any]:
    """Section 8: the throughput run of section 2 against all three nodes' URLs, its queues on
    the cluster's vhost "/" under a unique prefix; the three nodes' CPU is charged together."""
    if not ctx.plan.cluster:
        return {"skipped": SKIPPED_QUICK}
    with local_cluster(ctx.workdir) as up_s:
        pids = [pid for pid in map(cluster.pid_of, cluster.NODES) if pid is not None]
        if len(pids) != len(cluster.NODES):
            raise cluster.ClusterError(f"found {len(pids)} of the nodes' processes: {pids}")
        space = BrokerSpace(cluster.amqp_url_list(), cluster.MGMT_URL, own_vhost=False)
        try:
            run = e2e.throughput_run(
                dataclasses.replace(ctx, space=space, broker_pids=pids), "cluster"
            )
        finally:
            space.close()  # the queues live on every node: delete them while all three run
    return {
        "nodes": [n.name for n in cluster.NODES],
        "broker_pids": pids,
        "started_here": up_s is not None,
        "up_s": up_s,
        "space": space.describe(),
        "tasks": ctx.plan.e2e_tasks,
        "run": run,
    }

"""`make up CLUSTER=1`: the local stack gets every node of the local cluster as TASKQ_AMQP_URL.
No cluster needed: this checks what is passed on, not the nodes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scripts import cluster, localstack
from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


def test_services_get_every_node_and_the_clusters_management_ui() -> None:
    stack = localstack.Layout.from_env({}, cluster_mode=True)
    env = stack.child_env()
    assert env["TASKQ_AMQP_URL"] == cluster.amqp_url_list()
    assert stack.brokers == [("127.0.0.1", node.amqp_port) for node in cluster.NODES]
    assert stack.mgmt_port == cluster.MGMT_PORT
    # the services take the list as it is
    settings = Settings.from_env({"TASKQ_AMQP_URL": env["TASKQ_AMQP_URL"]})
    assert settings.amqp_urls == tuple(cluster.amqp_urls())


def test_without_cluster_nothing_changes() -> None:
    stack = localstack.Layout.from_env({"TASKQ_AMQP_URL": "amqp://u:p@broker:5672/"})
    assert stack.brokers == [("broker", 5672)]
    assert stack.mgmt_port == 15672
    assert not stack.cluster


def test_make_up_cluster_starts_the_cluster_then_the_stack_on_it() -> None:
    shown = subprocess.run(
        ["make", "-n", "--no-print-directory", "up", "CLUSTER=1", "STACK=local"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "scripts/cluster.py up &&" in shown
    assert "scripts/localstack.py up --cluster" in shown
    plain = subprocess.run(
        ["make", "-n", "--no-print-directory", "up", "STACK=local"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "cluster" not in plain

"""scripts/cluster.py's start: a member that exits while starting (RabbitMQ 3.10's feature-flag
race on a whole-cluster restart) is started again, a bounded number of times. No nodes run here."""

from __future__ import annotations

import pytest

from scripts import cluster

NODE3 = cluster.NODES[2]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(cluster, "start_node", lambda target, wait=True: names.append(target.name))
    return names


def waits(monkeypatch: pytest.MonkeyPatch, *outcomes: Exception | None) -> list[Exception | None]:
    """wait_for_nodes ends with each of `outcomes` in turn (None: every node answers)."""
    left = list(outcomes)

    def wait_for_nodes(targets: object, timeout_s: float) -> None:
        outcome = left.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(cluster, "wait_for_nodes", wait_for_nodes)
    return left


def test_a_member_that_exits_while_starting_is_started_again(
    monkeypatch: pytest.MonkeyPatch, started: list[str]
) -> None:
    left = waits(monkeypatch, cluster.NodeExited("taskq3 exited", [NODE3]), None)
    cluster._wait_starting(30)
    assert started == [NODE3.name]
    assert left == []


def test_it_gives_up_after_its_attempts(
    monkeypatch: pytest.MonkeyPatch, started: list[str]
) -> None:
    exits = [cluster.NodeExited("taskq3 exited", [NODE3]) for _ in range(cluster.START_ATTEMPTS)]
    waits(monkeypatch, *exits)
    with pytest.raises(cluster.NodeExited):
        cluster._wait_starting(30)
    assert started == [NODE3.name] * (cluster.START_ATTEMPTS - 1)


def test_a_node_that_does_not_answer_in_time_is_not_started_again(
    monkeypatch: pytest.MonkeyPatch, started: list[str]
) -> None:
    waits(monkeypatch, cluster.ClusterError("taskq3 does not accept AMQP after 60 s"))
    with pytest.raises(cluster.ClusterError, match="does not accept AMQP"):
        cluster._wait_starting(30)
    assert started == []

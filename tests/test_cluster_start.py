"""scripts/cluster.py's start: a member that exits while starting (RabbitMQ 3.10's feature-flag
race on a whole-cluster restart) is started again, a bounded number of times, and a member whose
VM runs with its app stopped (the same race when a paused minority resumes) gets start_app. No
nodes run here."""

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


class Node3App:
    """Nodes 1 and 2 answer AMQP; node 3's VM runs in `state` and answers once start_app ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, state: str) -> None:
        self.state = state
        self.commands: list[tuple[str, ...]] = []
        monkeypatch.setattr(cluster, "STALLED_S", 0.0)
        monkeypatch.setattr(cluster, "pid_of", lambda target: 4242)
        monkeypatch.setattr(cluster, "amqp_answers", self.answers)
        monkeypatch.setattr(cluster, "ctl", self.ctl)
        monkeypatch.setattr(cluster, "_say", lambda message: None)

    def answers(self, port: int) -> bool:
        return port != NODE3.amqp_port or self.state == "ready"

    def ctl(self, target: object, *args: str, timeout_s: float = 30.0) -> str:
        assert target == NODE3, "only the node that does not answer is asked"
        self.commands.append(args)
        if args == ("start_app",):
            self.state = "ready"
            return ""
        return f"{self.state}\n"


def test_a_node_left_with_its_app_stopped_gets_start_app(monkeypatch: pytest.MonkeyPatch) -> None:
    node3 = Node3App(monkeypatch, "stopped")
    cluster.wait_for_nodes(cluster.NODES, 5)
    assert node3.commands == [("eval", "rabbit_boot_state:get()."), ("start_app",)]


def test_a_node_still_booting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    node3 = Node3App(monkeypatch, "booting")
    with pytest.raises(cluster.ClusterError, match="does not accept AMQP"):
        cluster.wait_for_nodes(cluster.NODES, 1)
    assert node3.commands, "its boot state was read"
    assert ("start_app",) not in node3.commands

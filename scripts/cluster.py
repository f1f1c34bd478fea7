"""A local three-node RabbitMQ cluster on 127.0.0.1 for people and tests (issue 9).

`make cluster-up`, `make cluster-down` and `make cluster-status` call this; fault tests import it.

up      start taskq1, taskq2 and taskq3@localhost from Debian's rabbitmq-server (as root, detached),
        join taskq2 and taskq3 to taskq1, wait until all three run in one cluster and print
        TASKQ_AMQP_URL and the management URL. When all three already run in one cluster it says
        so. When some run (a fault test killed one) it starts the others, which rejoin from their
        data, and thaws a frozen one; a node still apart after HEAL_AFTER_S (a SIGSTOP longer than
        net_ticktime leaves Mnesia split) is restarted. When none runs it starts an empty cluster.
down    stop exactly these three nodes (by pid file, else by RABBITMQ_NODENAME in the process's
        environment) and wait until they are gone. --wipe also removes their data directory.
status  each node's process and the nodes the cluster reports running.
urls    TASKQ_AMQP_URL=... and the management URL.

Each node keeps its config, plugins file, pid file, data and logs in $TASKQ_CLUSTER_DIR/<node>/
(default data/cluster/). The machine's own broker (rabbit@localhost, 5672) is never touched: every
CLI command names its node with -n, and only pids verified as one of these nodes get a signal.
Standard library only.

For fault tests: NODES (name, ports, amqp_url), amqp_urls(), amqp_url_list(), MGMT_URL, up(),
down(), start_node(), stop_node(), kill_node(), freeze(), thaw(), process_state(), pid_of(),
running_nodes(), members(), cluster_status(), quorum_leader(), ctl() and wait_until(). A node is
named "taskq2", "taskq2@localhost" or by its Node; failures raise ClusterError.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
SBIN = Path("/usr/lib/rabbitmq/bin")
SYSTEM_COOKIE = Path("/var/lib/rabbitmq/.erlang.cookie")
HOME = Path("/root")
NET_TICKTIME_S = 10
EPMD_PORT = 4369
UP_TIMEOUT_S = 55.0
HEAL_AFTER_S = 10.0  # a node paused as a minority finds the others again in ~6 s here
STOP_TIMEOUT_S = 60.0
# CLI tools listen on a port of their own while they run; keep them off the system broker's range
CTL_DIST_PORTS = (35681, 35720)

ProcessState = Literal["running", "frozen", "stopped"]


class ClusterError(Exception):
    """The local cluster could not do what was asked; the message says what and where to look."""


class NodeExited(ClusterError):
    """A node's process ended while it was starting."""

    def __init__(self, message: str, nodes: list[Node]) -> None:
        super().__init__(message)
        self.nodes = nodes


@dataclass(frozen=True)
class Node:
    """One node of the local cluster: fixed name and ports, files under `base_dir()`."""

    name: str
    amqp_port: int
    dist_port: int
    mgmt_port: int | None = None

    @property
    def short(self) -> str:
        return self.name.split("@", 1)[0]

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def dir(self) -> Path:
        return base_dir() / self.short

    @property
    def pid_file(self) -> Path:
        return self.dir / "rabbitmq.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "log" / f"{self.name}.log"


NODES = (
    Node("taskq1@localhost", amqp_port=5681, dist_port=25681, mgmt_port=15681),
    Node("taskq2@localhost", amqp_port=5682, dist_port=25682),
    Node("taskq3@localhost", amqp_port=5683, dist_port=25683),
)
SEED = NODES[0]  # the others join its cluster; it alone runs the management plugin
MGMT_PORT = 15681
MGMT_URL = f"http://127.0.0.1:{MGMT_PORT}/"


def base_dir() -> Path:
    """Where the nodes keep their files: $TASKQ_CLUSTER_DIR, default data/cluster in the repo."""
    path = Path(os.environ.get("TASKQ_CLUSTER_DIR") or "data/cluster")
    return path if path.is_absolute() else ROOT / path


def node(name: str | Node) -> Node:
    """The node called `name`: "taskq2", "taskq2@localhost" or the Node itself."""
    for candidate in NODES:
        if name in (candidate, candidate.name, candidate.short):
            return candidate
    raise ClusterError(
        f"no node {name!r} in the local cluster ({', '.join(n.name for n in NODES)})"
    )


def amqp_urls() -> list[str]:
    """One AMQP URL per node, taskq1 first."""
    return [n.amqp_url for n in NODES]


def amqp_url_list() -> str:
    """The value for TASKQ_AMQP_URL: every node's URL, comma-separated."""
    return ",".join(amqp_urls())


# -- processes ------------------------------------------------------------------------------------


def pid_of(name: str | Node) -> int | None:
    """The live beam pid of the node: from its pid file, else found in /proc by its name."""
    target = node(name)
    try:
        pid: int | None = int(target.pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _is_beam_of(pid, target):
        return pid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_beam_of(int(entry.name), target):
            return int(entry.name)
    return None


def _is_beam_of(pid: int, target: Node) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if not comm.startswith("beam"):
            return False
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # `-s rabbit boot` tells a server from a CLI tool that inherited the variable
    return (
        f"RABBITMQ_NODENAME={target.name}".encode() in environ
        and b"\0rabbit\0boot\0" in cmdline
        and _stat_state(pid) not in {None, "Z", "X"}
    )


def _stat_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def process_state(name: str | Node) -> ProcessState:
    """Whether the node's process runs, is stopped by SIGSTOP ("frozen"), or does not exist."""
    pid = pid_of(name)
    if pid is None:
        return "stopped"
    return "frozen" if _stat_state(pid) in {"T", "t"} else "running"


def _signal(name: str | Node, sig: signal.Signals) -> int:
    pid = pid_of(name)
    if pid is None:
        raise ClusterError(f"{node(name).name} is not running")
    os.kill(pid, sig)
    return pid


def _wait_gone(pid: int, timeout_s: float) -> bool:
    return wait_until(lambda: _stat_state(pid) in {None, "Z", "X"}, timeout_s, 0.1)


def kill_node(name: str | Node) -> None:
    """SIGKILL the node's beam process (a crash: no clean shutdown) and wait until it is gone."""
    target = node(name)
    pid = _signal(target, signal.SIGKILL)
    if not _wait_gone(pid, 10):
        raise ClusterError(f"{target.name} (pid {pid}) survived SIGKILL for 10 s")
    target.pid_file.unlink(missing_ok=True)


def freeze(name: str | Node) -> None:
    """SIGSTOP the node: it holds its sockets but answers nothing, like a hung machine.

    Returns once every thread of it has stopped.
    """
    pid = _signal(name, signal.SIGSTOP)
    if not wait_until(lambda: _stat_state(pid) in {"T", "t"}, 5, 0.05):
        raise ClusterError(f"{node(name).name} (pid {pid}) did not stop on SIGSTOP in 5 s")


def thaw(name: str | Node) -> None:
    """SIGCONT a frozen node; returns once it runs again."""
    pid = _signal(name, signal.SIGCONT)
    if not wait_until(lambda: _stat_state(pid) not in {"T", "t"}, 5, 0.05):
        raise ClusterError(f"{node(name).name} (pid {pid}) did not go on after SIGCONT in 5 s")


def stop_node(name: str | Node, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop the node cleanly (thaw, SIGTERM) and wait until it is gone; SIGKILL after timeout_s.

    Stopping a node that does not run does nothing.
    """
    _stop([node(name)], timeout_s)


def _stop(targets: Iterable[Node], timeout_s: float) -> list[Node]:
    pids: dict[Node, int] = {}
    for target in targets:
        pid = pid_of(target)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)  # a frozen node cannot act on SIGTERM
            os.kill(pid, signal.SIGTERM)
            pids[target] = pid
    deadline = time.monotonic() + timeout_s
    for target, pid in pids.items():
        if not _wait_gone(pid, max(0.0, deadline - time.monotonic())):
            print(f"warning: {target.name} did not stop in {timeout_s:.0f} s; SIGKILL", flush=True)
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        target.pid_file.unlink(missing_ok=True)
    return list(pids)


def start_node(name: str | Node, wait: bool = True, timeout_s: float = UP_TIMEOUT_S) -> None:
    """Start the node (detached) if it does not run; with `wait`, until it accepts AMQP.

    A node that was in the cluster rejoins it from its data. A frozen node is thawed.
    """
    target = node(name)
    state = process_state(target)
    if state == "frozen":
        thaw(target)
    if state == "stopped":
        _spawn(target)
    if wait:
        wait_for_nodes([target], timeout_s)


def _spawn(target: Node) -> None:
    _check_machine()
    ports = [target.amqp_port, target.dist_port, *([target.mgmt_port] if target.mgmt_port else [])]
    taken = [str(port) for port in ports if _port_taken(port)]
    if taken:
        raise ClusterError(
            f"port {', '.join(taken)} of {target.name} is taken by another process; stop it first"
        )
    target.dir.mkdir(parents=True, exist_ok=True)
    _write_files(target)
    with (target.dir / "startup.log").open("ab") as sink:
        subprocess.run(
            [str(SBIN / "rabbitmq-server"), "-detached"],
            cwd=target.dir,
            env=_server_env(target),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=30,
        )


def wait_for_nodes(targets: Iterable[Node], timeout_s: float) -> None:
    """Wait until every target accepts AMQP; fail early, with its log, if one exits on the way."""
    pending = list(targets)
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    stalled_since: dict[str, float] = {}
    while pending:
        pending = [t for t in pending if not amqp_answers(t.amqp_port)]
        # `rabbitmq-server -detached` returns before the beam registers: allow it a few seconds
        dead = [t for t in pending if time.monotonic() - started > 5 and pid_of(t) is None]
        if dead or (pending and time.monotonic() >= deadline):
            culprit = (dead or pending)[0]
            why = (
                "exited while starting" if dead else f"does not accept AMQP after {timeout_s:.0f} s"
            )
            message = f"{culprit.name} {why}; {_log_hint(culprit)}"
            raise NodeExited(message, dead) if dead else ClusterError(message)
        if pending:
            _start_stalled_apps(pending, stalled_since)
            time.sleep(0.3)


# RabbitMQ 3.10: a node paused as the minority (pause_minority) starts its app again once a
# majority is back, and that start can fail like a booting member's (a peer's feature-flag
# registry not loaded yet) and is never tried again: the VM stays up with the app stopped, and no
# AMQP port opens. Seen once in a CI run after the "two of three stopped" fault. A node that is
# still stopped this long after a peer answers gets what an operator would type: start_app.
STALLED_S = 15.0


def _start_stalled_apps(pending: list[Node], stalled_since: dict[str, float]) -> None:
    now = time.monotonic()
    peers_up = [n for n in NODES if n not in pending and amqp_answers(n.amqp_port)]
    for target in pending:
        if not peers_up or pid_of(target) is None:
            stalled_since.pop(target.name, None)
            continue
        since = stalled_since.setdefault(target.name, now)
        if now - since < STALLED_S:
            continue
        stalled_since[target.name] = now  # asked again after another STALLED_S at the earliest
        try:
            if ctl(target, "eval", "rabbit_boot_state:get().", timeout_s=10).strip() != "stopped":
                continue  # booting, or paused and about to resume: leave it
            _say(f"{target.name} runs with its app stopped; starting the app again")
            ctl(target, "start_app", timeout_s=60)
        except ClusterError as exc:  # the wait goes on; its deadline decides
            _say(f"{target.name}: {exc}")


def _log_hint(target: Node) -> str:
    lines: list[str] = []
    for log in (target.dir / "startup.log", target.log_file):
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-8:]
            lines += [f"--- {log}", *tail]
    return "see " + str(target.dir / "log") + ("\n" + "\n".join(lines) if lines else "")


# -- files and environment ------------------------------------------------------------------------


def _check_machine() -> None:
    if os.geteuid() != 0:
        raise ClusterError("the local cluster runs as root (its Erlang cookie is /root's)")
    if not (SBIN / "rabbitmq-server").exists():
        raise ClusterError(f"no {SBIN / 'rabbitmq-server'}: apt-get install rabbitmq-server")
    _ensure_cookie()
    if not (HOME / ".erlang.cookie").exists():
        raise ClusterError(f"no Erlang cookie at {SYSTEM_COOKIE} to copy to {HOME}")


def _ensure_cookie() -> None:
    # before any node or CLI tool starts, or Erlang makes up a cookie of its own there
    cookie = HOME / ".erlang.cookie"
    if not cookie.exists() and os.access(SYSTEM_COOKIE, os.R_OK):
        shutil.copyfile(SYSTEM_COOKIE, cookie)
        cookie.chmod(0o400)  # Erlang refuses a cookie that others can read


def _write_files(target: Node) -> None:
    base_dir().joinpath("rabbitmq-env.conf").write_text(
        "# written by scripts/cluster.py: replaces /etc/rabbitmq/rabbitmq-env.conf, whose\n"
        "# NODENAME is the machine's own broker's\nERL_EPMD_ADDRESS=127.0.0.1\n"
    )
    conf = [
        "# written by scripts/cluster.py on every start",
        f"listeners.tcp.1 = 127.0.0.1:{target.amqp_port}",
        "distribution.listener.interface = 127.0.0.1",
        f"net_ticktime = {NET_TICKTIME_S}",
        "loopback_users.guest = true",
        # the minority side of a partition pauses, as a production cluster of three should
        "cluster_partition_handling = pause_minority",
    ]
    if target.mgmt_port is not None:
        conf += ["management.tcp.ip = 127.0.0.1", f"management.tcp.port = {target.mgmt_port}"]
    (target.dir / "rabbitmq.conf").write_text("\n".join(conf) + "\n")
    # every node runs the agent: the management plugin on taskq1 collects their statistics
    # through it, and its feature flags must be known to every node for them to cluster
    plugin = "rabbitmq_management" if target.mgmt_port is not None else "rabbitmq_management_agent"
    (target.dir / "enabled_plugins").write_text(f"[{plugin}].\n")


def _cli_env() -> dict[str, str]:
    _ensure_cookie()
    # a RABBITMQ_* or ERL_* variable of the caller must not steer these nodes elsewhere
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
    env.update(
        HOME=str(HOME),
        RABBITMQ_CONF_ENV_FILE=str(base_dir() / "rabbitmq-env.conf"),
        RABBITMQ_CTL_DIST_PORT_MIN=str(CTL_DIST_PORTS[0]),
        RABBITMQ_CTL_DIST_PORT_MAX=str(CTL_DIST_PORTS[1]),
        # the same tick time as the nodes, or a node drops a CLI tool waiting more than 10 s
        RABBITMQ_CTL_ERL_ARGS=f"-kernel net_ticktime {NET_TICKTIME_S}",
    )
    return env


def _server_env(target: Node) -> dict[str, str]:
    env = _cli_env()
    del env["RABBITMQ_CTL_ERL_ARGS"]
    env.update(
        RABBITMQ_NODENAME=target.name,
        RABBITMQ_NODE_PORT=str(target.amqp_port),
        RABBITMQ_DIST_PORT=str(target.dist_port),
        RABBITMQ_MNESIA_BASE=str(target.dir / "mnesia"),
        RABBITMQ_LOG_BASE=str(target.dir / "log"),
        RABBITMQ_CONFIG_FILE=str(target.dir / "rabbitmq.conf"),
        RABBITMQ_ADVANCED_CONFIG_FILE=str(target.dir / "advanced.config"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(target.dir / "enabled_plugins"),
        RABBITMQ_PID_FILE=str(target.pid_file),
        ERL_CRASH_DUMP=str(target.dir / "erl_crash.dump"),
    )
    return env


# -- asking the nodes -----------------------------------------------------------------------------


def amqp_answers(port: int, host: str = "127.0.0.1") -> bool:
    """True if an AMQP 0-9-1 server answers the protocol header on host:port."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(2)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"  # the method frame of connection.start
    except OSError:
        return False


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ctl(name: str | Node, *args: str, tool: str = "rabbitmqctl", timeout_s: float = 30.0) -> str:
    """Run a RabbitMQ CLI tool (rabbitmqctl, rabbitmq-queues, ...) against the node; its stdout.

    Raises ClusterError with the tool's output when it fails or takes longer than timeout_s.
    """
    target = node(name)
    command = [str(SBIN / tool), "-n", target.name, *args]
    try:
        result = subprocess.run(
            command,
            env=_cli_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(f"`{tool} -n {target.name} {' '.join(args)}` hung") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise ClusterError(f"`{tool} -n {target.name} {' '.join(args)}` failed: {detail}")
    return result.stdout


def _any_node() -> Node:
    for candidate in NODES:
        if process_state(candidate) == "running" and amqp_answers(candidate.amqp_port):
            return candidate
    raise ClusterError("no node of the local cluster runs and answers; `make cluster-up`")


def cluster_status(via: str | Node | None = None) -> dict[str, Any]:
    """`rabbitmqctl cluster_status` as seen by `via` (default: the first node that answers)."""
    found: dict[str, Any] = json.loads(
        ctl(via or _any_node(), "cluster_status", "--formatter", "json")
    )
    return found


def running_nodes(via: str | Node | None = None) -> list[str]:
    """The names of the nodes that `via` reports running in its cluster."""
    return sorted(cluster_status(via).get("running_nodes", []))


def members(via: str | Node | None = None) -> list[str]:
    """Every member of `via`'s cluster, running or not."""
    status = cluster_status(via)
    return sorted({*status.get("disk_nodes", []), *status.get("ram_nodes", [])})


def quorum_leader(queue: str, vhost: str = "/", via: str | Node | None = None) -> str | None:
    """The node that leads quorum queue `queue` now, by its Raft state; None while it has none."""
    out = ctl(
        via or _any_node(),
        "quorum_status",
        queue,
        "--vhost",
        vhost,
        "--formatter",
        "json",
        tool="rabbitmq-queues",
    )
    for member in json.loads(out):
        if member.get("Raft State") == "leader":
            return str(member["Node Name"])
    return None


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Call check until it returns True (then True) or timeout_s passes (then False)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


# -- up, down, status -----------------------------------------------------------------------------


# RabbitMQ 3.10: a cluster member started beside peers that are still booting may exit at once
# with `incompatible_feature_flags` (a peer's feature-flag registry is not loaded yet, `badmap
# undefined`). Started again, it joins; this happened once in a CI run's full-cluster restart.
START_ATTEMPTS = 3


def _wait_starting(timeout_s: float) -> None:
    """Wait for every node to accept AMQP, starting again a node that exited on the way."""
    deadline = time.monotonic() + timeout_s
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            wait_for_nodes(NODES, deadline - time.monotonic())
            return
        except NodeExited as exc:
            if attempt == START_ATTEMPTS:
                raise
            _say(f"{', '.join(n.name for n in exc.nodes)} exited while starting; starting again")
            for target in exc.nodes:
                start_node(target, wait=False)


def up(timeout_s: float = UP_TIMEOUT_S) -> None:
    """Bring all three nodes up in one cluster (see the module's docstring); idempotent.

    Nodes that a fault left apart (a partition after a freeze) get HEAL_AFTER_S to find each other
    again; then those outside the largest group are restarted, as one heals a partition by hand.
    """
    started = time.monotonic()
    if _whole():
        _say("the local cluster is already up")
        print_urls()
        return
    fresh = all(process_state(n) == "stopped" for n in NODES)
    if fresh and base_dir().exists():
        for target in NODES:  # nothing runs: start an empty cluster, keeping the old logs
            shutil.rmtree(target.dir / "mnesia", ignore_errors=True)
    base_dir().mkdir(parents=True, exist_ok=True)
    if not _port_taken(EPMD_PORT):  # our first node will start epmd: `down` stops it again
        (base_dir() / "epmd.ours").touch()
    stopped = [n.name for n in NODES if process_state(n) == "stopped"]
    if stopped:
        _say(f"starting {', '.join(stopped)}")
    for target in NODES:
        start_node(target, wait=False)
    _wait_starting(timeout_s - (time.monotonic() - started))
    joining = list(NODES[1:]) if fresh else [t for t in NODES[1:] if t.name not in members(SEED)]
    if joining:
        _say(f"joining {', '.join(t.name for t in joining)} to {SEED.name}")
        # stopping the app takes ~5 s a node here, so stop and start them side by side; the joins
        # themselves take turns
        _each(joining, lambda t: ctl(t, "stop_app"))
        for target in joining:
            ctl(target, "join_cluster", SEED.name)
        _each(joining, lambda t: ctl(t, "start_app", timeout_s=60))
    remaining = timeout_s - (time.monotonic() - started)
    if not wait_until(_whole, remaining if fresh else min(remaining, HEAL_AFTER_S), 1.0):
        if fresh:
            raise ClusterError(f"the nodes do not form one cluster: {_describe(_views())}")
        _heal()
        if not wait_until(_whole, timeout_s, 1.0):
            raise ClusterError(f"the nodes do not form one cluster again: {_describe(_views())}")
    names = ", ".join(n.name for n in NODES)
    _say(f"the local cluster is up ({names}) in {time.monotonic() - started:.1f} s")
    print_urls()


def _views() -> dict[Node, frozenset[str]]:
    """The nodes each node reports running in its cluster (empty where it does not answer)."""

    def view(target: Node) -> frozenset[str]:
        if process_state(target) != "running":
            return frozenset()
        try:
            return frozenset(running_nodes(target))
        except ClusterError:
            return frozenset()

    with ThreadPoolExecutor(max_workers=len(NODES)) as pool:
        return dict(zip(NODES, pool.map(view, NODES), strict=True))


def _whole() -> bool:
    everyone = frozenset(n.name for n in NODES)
    return all(seen == everyone for seen in _views().values())


def _describe(views: dict[Node, frozenset[str]]) -> str:
    return "; ".join(
        f"{n.short} sees {', '.join(sorted(v)) or 'nothing'}" for n, v in views.items()
    )


def _heal() -> None:
    views = _views()
    largest = max(views.values(), key=len)
    # no node answers: restart them all; they wait for each other's data as they start
    apart = [n for n in NODES if not largest or n.name not in largest or views[n] != largest]
    restarting = ", ".join(n.name for n in apart)
    _say(f"healing a split cluster ({_describe(views)}): restarting {restarting}")
    _stop(apart, STOP_TIMEOUT_S)
    for target in apart:
        start_node(target, wait=False)
    wait_for_nodes(apart, UP_TIMEOUT_S)


def _each(targets: list[Node], action: Callable[[Node], object]) -> None:
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        for future in [pool.submit(action, target) for target in targets]:
            future.result()  # raises the first failure


def down(wipe: bool = False) -> None:
    """Stop the three nodes and wait until they are gone; with wipe, remove their directory."""
    stopped = _stop(NODES, STOP_TIMEOUT_S)
    if stopped:
        _say(f"stopped {', '.join(n.name for n in stopped)}")
    else:
        _say("the local cluster is not running")
    _stop_our_epmd()
    if wipe and base_dir().exists():
        shutil.rmtree(base_dir())
        _say(f"removed {base_dir()}")


def _stop_our_epmd() -> None:
    marker = base_dir() / "epmd.ours"
    if not marker.exists() or not shutil.which("epmd"):
        return
    names = subprocess.run(
        ["epmd", "-names"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    # only while no node uses it: one started since (the machine's own broker) keeps it
    if not any(line.startswith("name ") for line in names.splitlines()):
        subprocess.run(["epmd", "-kill"], capture_output=True, timeout=10, check=False)
        _say("stopped the epmd our first node started")
    marker.unlink()


def status() -> None:
    """Print each node's process state and pid, and the nodes the cluster reports running."""
    for target in NODES:
        pid = pid_of(target)
        print(f"  {target.name:18} {process_state(target):8} pid {pid or '-':<8} {target.amqp_url}")
    try:
        print(f"  running in the cluster: {', '.join(running_nodes())}")
    except ClusterError as exc:
        print(f"  running in the cluster: none ({exc})")


def print_urls() -> None:
    """Print TASKQ_AMQP_URL for the three nodes, the management UI and where the logs are."""
    print(
        f"  TASKQ_AMQP_URL={amqp_url_list()}",
        f"  management UI  {MGMT_URL}   (guest / guest, {SEED.name})",
        f"  logs           {base_dir()}/<node>/log/",
        "  stop           make cluster-down",
        sep="\n",
        flush=True,
    )


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "urls"])
    parser.add_argument("--wipe", action="store_true", help="down: also remove the data directory")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up()
        elif args.command == "down":
            down(wipe=args.wipe)
        elif args.command == "status":
            status()
        else:
            print_urls()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

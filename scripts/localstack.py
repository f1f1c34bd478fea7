"""Run taskq on this machine without Docker; `make up`, `make down`, `make logs` call this.

up      check the broker (start a local one if we may), enable its management UI, run the
        migrator to completion, start the API and the consumer under supervisord
        (deploy/supervisord.conf), wait until both answer /readyz, print where to look.
down    stop the supervisord that `up` started, found by its pid file; it stops its children.
logs    follow the log files.
status  show what supervisord runs.
urls    print where to look (`--docker`: for the compose stack).

`--cluster` (`make up CLUSTER=1`): run against the local three-node cluster of scripts/cluster.py
(`make cluster-up`); the services get all its nodes' URLs, comma-separated, as TASKQ_AMQP_URL.

Standard library only. Paths and ports come from the same TASKQ_* variables as the services,
plus TASKQ_RUN_DIR (logs, pid file, socket; default data/run) and TASKQ_UP_TIMEOUT_S (how long
`up` waits for /readyz; default 60).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

if __name__ == "__main__":
    # run as `python3 scripts/localstack.py`: the repo root makes `scripts` importable, so
    # cluster.py is `scripts.cluster` here as it is for the tests and the benchmark
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import cluster

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "deploy" / "supervisord.conf"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
MGMT_PORT = 15672
# local probes must never go through an http_proxy from the environment
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Layout:
    """Where the local stack lives and listens, from the environment."""

    run_dir: Path
    db_path: Path
    amqp_url: str
    http_port: int
    consumer_port: int
    probe_host: str
    up_timeout_s: float
    mgmt_port: int = MGMT_PORT
    cluster: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str], cluster_mode: bool = False) -> Layout:
        def path(name: str, default: str) -> Path:
            p = Path(environ.get(name) or default)
            return p if p.is_absolute() else ROOT / p

        def number(name: str, default: str) -> int:
            raw = environ.get(name) or default
            if not raw.isdigit() or int(raw) <= 0:
                fail(f"{name} must be a positive integer, got {raw!r}")
            return int(raw)

        http_host = environ.get("TASKQ_HTTP_HOST") or "0.0.0.0"
        amqp_url = environ.get("TASKQ_AMQP_URL") or "amqp://guest:guest@localhost:5672/"
        return cls(
            run_dir=path("TASKQ_RUN_DIR", "data/run"),
            db_path=path("TASKQ_DB_PATH", "data/tasks.db"),
            amqp_url=cluster.amqp_url_list() if cluster_mode else amqp_url,
            http_port=number("TASKQ_HTTP_PORT", "8080"),
            consumer_port=number("TASKQ_CONSUMER_PORT", "8081"),
            probe_host="127.0.0.1" if http_host in {"0.0.0.0", "::"} else http_host,
            up_timeout_s=number("TASKQ_UP_TIMEOUT_S", "60"),
            mgmt_port=cluster.MGMT_PORT if cluster_mode else MGMT_PORT,
            cluster=cluster_mode,
        )

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def brokers(self) -> list[tuple[str, int]]:
        """Host and port of each URL in TASKQ_AMQP_URL (one, or a cluster's comma-separated list)."""
        found = []
        for raw in filter(None, (part.strip() for part in self.amqp_url.split(","))):
            url = urlsplit(raw)
            port = url.port or (5671 if url.scheme == "amqps" else 5672)
            found.append((url.hostname or "localhost", port))
        return found

    @property
    def broker(self) -> tuple[str, int]:
        return self.brokers[0]

    def readyz(self) -> dict[str, str]:
        return {
            "api": f"http://{self.probe_host}:{self.http_port}/readyz",
            "consumer": f"http://{self.probe_host}:{self.consumer_port}/readyz",
        }

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TASKQ_DB_PATH=str(self.db_path),
            TASKQ_RUN_DIR=str(self.run_dir),
            TASKQ_PYTHON=sys.executable,
            PYTHONUNBUFFERED="1",
        )
        if self.cluster:
            env["TASKQ_AMQP_URL"] = self.amqp_url
        return env


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def tcp_open(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def amqp_answers(host: str, port: int) -> bool:
    """True if an AMQP 0-9-1 server answers the protocol header (a bare TCP connect can be
    accepted by a proxy or firewall on the way)."""
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            reply = sock.recv(8)
    except OSError:
        return False
    # a method frame (connection.start), or the header the server would rather speak
    return reply[:1] == b"\x01" or reply.startswith(b"AMQP")


def http_answers(url: str) -> bool:
    """True if anything speaks HTTP at url, whatever the status."""
    try:
        with _opener.open(url, timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def http_ok(url: str) -> bool:
    try:
        with _opener.open(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# -- the supervisord that `up` started ------------------------------------------------------------


def running_pid(stack: Layout) -> int | None:
    """The pid in the pid file if it is our supervisord and alive; a stale pid file is removed."""
    try:
        pid = int(stack.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if _is_our_supervisord(pid):
        return pid
    print(f"removing stale pid file {stack.pid_file} (pid {pid} is not our supervisord)")
    stack.pid_file.unlink(missing_ok=True)
    return None


def _is_our_supervisord(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask ps
        result = subprocess.run(
            ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, check=False
        )
        cmdline, state = result.stdout, "R"
    return state != "Z" and "supervisord" in cmdline and str(CONF) in cmdline


def supervisorctl(stack: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(CONF), *args],
        env=stack.child_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def given_up(stack: Layout) -> list[str]:
    """Services that supervisord has stopped retrying (FATAL)."""
    out = supervisorctl(stack, "status").stdout
    return [line.split()[0] for line in out.splitlines() if " FATAL " in f" {line} "]


# -- up -------------------------------------------------------------------------------------------


def _local_node_running() -> bool:
    ping = ["rabbitmq-diagnostics", "-q", "ping"]
    return subprocess.run(ping, capture_output=True, timeout=60, check=False).returncode == 0


def ensure_broker(stack: Layout) -> None:
    if stack.cluster:
        silent = [f"{host}:{port}" for host, port in stack.brokers if not amqp_answers(host, port)]
        if silent:
            fail(f"the local cluster does not answer on {', '.join(silent)}; `make cluster-up`")
        say(f"the local cluster answers on {len(stack.brokers)} nodes")
        return
    host, port = stack.broker
    if amqp_answers(host, port):
        say(f"RabbitMQ answers on {host}:{port}")
        return
    may_start = (
        host in LOCAL_HOSTS
        and port == 5672
        and os.geteuid() == 0
        and shutil.which("rabbitmq-server")
        and shutil.which("rabbitmq-diagnostics")
        and not _local_node_running()
    )
    if may_start:
        say("RabbitMQ is not running; starting the local rabbitmq-server (we are root)")
        subprocess.run(["rabbitmq-server", "-detached"], stdin=subprocess.DEVNULL, check=False)
        if cluster.wait_until(lambda: amqp_answers(host, port), 60):
            return
        fail(f"started rabbitmq-server but it does not answer on {host}:{port} after 60 s")
    fail(
        f"RabbitMQ is not reachable at {host}:{port} (TASKQ_AMQP_URL); start it "
        "(e.g. `rabbitmq-server -detached`) or run `make up` where Docker is available"
    )


def ensure_management_ui(stack: Layout) -> None:
    host, _ = stack.broker
    ui = f"http://{host}:{stack.mgmt_port}/"
    if http_answers(ui):
        return
    # the cluster's nodes have their plugins file of their own (scripts/cluster.py)
    if stack.cluster or host not in LOCAL_HOSTS or not shutil.which("rabbitmq-plugins"):
        print(f"warning: the RabbitMQ management UI is not reachable on {host}:{stack.mgmt_port}")
        return
    say("enabling the RabbitMQ management plugin")
    result = subprocess.run(
        ["rabbitmq-plugins", "enable", "rabbitmq_management"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"warning: rabbitmq-plugins failed (exit {result.returncode}): {detail[0]}")
    elif not cluster.wait_until(lambda: http_answers(ui), 30):
        print(f"warning: the management UI still does not answer on {host}:{MGMT_PORT}")


def run_migrator(stack: Layout) -> None:
    say("running the migrator")
    log = stack.run_dir / "migrator.log"
    with (
        log.open("a") as sink,
        subprocess.Popen(
            [sys.executable, "-m", "services.migrator"],
            cwd=ROOT,
            env=stack.child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sink.write(line)
    if proc.returncode != 0:
        fail(f"the migrator failed (exit {proc.returncode}); its output is above and in {log}")


def start_supervisord(stack: Layout) -> None:
    say(f"starting the API and the consumer under supervisord ({CONF.relative_to(ROOT)})")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "supervisord"), "-c", str(CONF)],
        cwd=ROOT,
        env=stack.child_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0 or not cluster.wait_until(
        lambda: running_pid(stack) is not None, 10, 0.2
    ):
        fail(f"supervisord did not start; see {stack.run_dir / 'supervisord.log'}")


def wait_ready(stack: Layout, stop_on_failure: bool) -> None:
    urls = stack.readyz()
    say(f"waiting up to {stack.up_timeout_s:.0f} s for {', '.join(urls.values())}")
    started = time.monotonic()
    deadline = started + stack.up_timeout_s
    while True:
        pending = [name for name, url in urls.items() if not http_ok(url)]
        if not pending:
            return
        dead = given_up(stack)
        if dead or time.monotonic() >= deadline:
            why = f"{', '.join(dead)} keeps crashing" if dead else f"{', '.join(pending)} not ready"
            _show_log_tails(stack, dead or pending)
            if stop_on_failure:
                print("stopping what was started ...", file=sys.stderr)
                stop(stack)
            logs = ", ".join(str(stack.run_dir / f"{name}.log") for name in dead or pending)
            fail(f"{why} after {time.monotonic() - started:.0f} s; see {logs}")
        time.sleep(1)


def _show_log_tails(stack: Layout, names: list[str]) -> None:
    for name in names:
        log = stack.run_dir / f"{name}.log"
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- last lines of {log}", *lines, sep="\n", file=sys.stderr)


def up(stack: Layout) -> None:
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    stack.db_path.parent.mkdir(parents=True, exist_ok=True)
    pid = running_pid(stack)
    if pid is not None:
        say(f"taskq is already running (supervisord pid {pid}); `make down` stops it")
        wait_ready(stack, stop_on_failure=False)
        print_urls(stack)
        return
    for port in (stack.http_port, stack.consumer_port):
        if tcp_open(stack.probe_host, port, timeout=1):
            fail(
                f"port {port} is already in use by another process; stop it or set "
                "TASKQ_HTTP_PORT / TASKQ_CONSUMER_PORT"
            )
    ensure_broker(stack)
    ensure_management_ui(stack)
    run_migrator(stack)
    start_supervisord(stack)
    wait_ready(stack, stop_on_failure=True)
    print_urls(stack)


# -- down, logs, status, urls ---------------------------------------------------------------------


def stop(stack: Layout) -> None:
    pid = running_pid(stack)
    if pid is None:
        say(f"taskq is not running (no live supervisord pid in {stack.pid_file})")
        return
    say(f"stopping supervisord pid {pid} and the services it runs")
    os.kill(pid, signal.SIGTERM)
    # each child gets stopwaitsecs (40 s) to drain before SIGKILL; leave room for both
    if not cluster.wait_until(lambda: not _is_our_supervisord(pid), 90, 0.2):
        fail(f"supervisord pid {pid} is still running after 90 s; see {stack.run_dir}")
    stack.pid_file.unlink(missing_ok=True)
    say("stopped")


def logs(stack: Layout) -> None:
    files = sorted(str(p) for p in stack.run_dir.glob("*.log"))
    if not files:
        fail(f"no logs in {stack.run_dir}; has `make up` run?")
    os.execvp("tail", ["tail", "-n", "50", "-F", *files])


def status(stack: Layout) -> None:
    if running_pid(stack) is None:
        say("taskq is not running")
        return
    print(supervisorctl(stack, "status").stdout, end="")


def print_urls(stack: Layout, docker: bool = False) -> None:
    url = urlsplit(stack.amqp_url)
    user, password = url.username, url.password
    if docker:  # compose.yaml takes the broker credentials from these, with dev defaults
        user = os.environ.get("RABBITMQ_DEFAULT_USER") or "guest"
        password = os.environ.get("RABBITMQ_DEFAULT_PASS") or "guest"
    login = (
        "guest / guest"
        if (user or "guest", password or "guest") == ("guest", "guest")
        else f"user {user}"
    )
    api = f"http://localhost:{stack.http_port}"
    if docker:
        mapped = subprocess.run(
            ["docker", "compose", "port", "consumer", "8081"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        port = mapped.rsplit(":", 1)[-1] if mapped else "?"
        metrics, logs_hint = f"http://localhost:{port}/metrics", "make logs (docker compose logs)"
    else:
        metrics = f"http://localhost:{stack.consumer_port}/metrics"
        logs_hint = f"make logs ({stack.run_dir}/*.log)"
    print(
        "",
        "taskq is up:",
        f"  API            {api}",
        f"  dashboard      {api}/",
        f"  API docs       {api}/docs",
        f"  metrics        {metrics}   (consumer)",
        f"  RabbitMQ UI    http://localhost:{stack.mgmt_port}   ({login})",
        f"  logs           {logs_hint}",
        "  stop           make down",
        sep="\n",
    )
    if stack.cluster:
        nodes = ", ".join(f"{host}:{port}" for host, port in stack.brokers)
        print(f"  cluster        {nodes}   (make cluster-status, make cluster-down)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "logs", "status", "urls"])
    parser.add_argument("--docker", action="store_true", help="urls: for the compose stack")
    parser.add_argument("--cluster", action="store_true", help="against the local 3-node cluster")
    args = parser.parse_args(argv)
    stack = Layout.from_env(dict(os.environ), cluster_mode=args.cluster)
    if args.command == "up":
        up(stack)
    elif args.command == "down":
        stop(stack)
    elif args.command == "logs":
        logs(stack)
    elif args.command == "status":
        status(stack)
    else:
        print_urls(stack, docker=args.docker)


if __name__ == "__main__":
    main()

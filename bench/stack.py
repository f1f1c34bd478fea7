"""The benchmark's own world: a broker vhost (or unique queue names on the default one), a temp
directory of databases and logs, and real service processes started and stopped by pid.

Only the API and the migrator get a database: a consumer's environment holds no database
variable, as in production, where it runs on any machine that reaches the broker."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped, unused-ignore]

from tests.support.broker import (
    create_vhost,
    credentials,
    delete_prefixed,
    delete_vhost,
    management_api,
    with_vhost,
)
from tests.support.observe import metric
from tests.support.processes import DATABASE_VARIABLES, ROOT, ServiceProcess, free_port

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def stop_on_sigterm() -> None:
    """A SIGTERM (a test's timeout, a CI runner) exits through the `finally` blocks, so the
    services stop and the vhosts go; a SIGKILL would leave them behind."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


class BrokerSpace:
    """Where the benchmark's queues live: a vhost of its own when the management API lets us
    make one (and `own_vhost`), else the given vhost with a unique queue prefix. `amqp_url` may
    be a cluster's comma-separated list of node URLs. `close()` removes what it made."""

    def __init__(self, amqp_url: str, mgmt_url: str | None, own_vhost: bool = True) -> None:
        self.base_url = next(url.strip() for url in amqp_url.split(",") if url.strip())
        parts = urllib.parse.urlsplit(self.base_url)
        self.mgmt = mgmt_url or f"http://{parts.hostname}:15672"
        self.auth = credentials(self.base_url)
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.vhost: str | None = None
        self.amqp_url = amqp_url
        self.default_vhost = urllib.parse.unquote(parts.path[1:]) or "/"
        if not own_vhost:
            return
        try:
            with self._api() as api:
                self.vhost = create_vhost(api, self.auth[0], "taskq-bench")
        except httpx.HTTPError:
            return  # no management API: unique queue names on the default vhost, deleted by name
        self.amqp_url = with_vhost(amqp_url, self.vhost)

    def _api(self) -> httpx.Client:
        return management_api(self.mgmt, self.auth)

    def queue_name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def close(self) -> None:
        with contextlib.suppress(httpx.HTTPError), self._api() as api:
            if self.vhost is not None:
                delete_vhost(api, self.vhost)
            else:
                delete_prefixed(api, self.default_vhost, self.prefix)

    def describe(self) -> str:
        if self.vhost:
            return f"vhost {self.vhost}"
        return f"queue prefix {self.prefix} on vhost {self.default_vhost}"

    def broker_pid(self) -> int | None:
        """The pid of the broker's process (beam.smp) when it runs on this machine: the one that
        listens on the AMQP port, else what `rabbitmqctl` says. None for a remote broker."""
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.hostname not in LOCAL_HOSTS:
            return None
        port = parts.port or 5672
        with contextlib.suppress(psutil.Error):
            for conn in psutil.net_connections("tcp"):
                # laddr is an empty tuple for an unbound socket
                if conn.status != psutil.CONN_LISTEN or not conn.laddr:
                    continue
                if conn.laddr.port == port and conn.pid:
                    return int(conn.pid)
        ctl = shutil.which("rabbitmqctl")
        if ctl is None:
            return None
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [ctl, "eval", "os:getpid()."], capture_output=True, text=True, timeout=30
            )
            digits = done.stdout.strip().strip('"')
            if done.returncode == 0 and digits.isdigit():
                return int(digits)
        return None


class BenchStack:
    """A database, an API and consumers on one queue; stops everything it started."""

    def __init__(
        self,
        space: BrokerSpace,
        workdir: Path,
        role: str,
        *,
        checkout: Path = ROOT,
        consumers_open_db: bool = False,
        **env: str,
    ) -> None:
        """`checkout` runs another checkout's services (an older commit, for bench.versus);
        `consumers_open_db` hands its consumers the database, as designs before issue 8 need."""
        self.workdir = workdir
        self.checkout = checkout
        self.consumers_open_db = consumers_open_db
        self.db_path = workdir / f"{role}.db"
        self.log_dir = workdir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        # Knobs set in the caller's environment (TASKQ_DB_SYNCHRONOUS, say) reach the services
        # that read them; consumer_env() keeps the database's away from consumers.
        self.env = {k: v for k, v in os.environ.items() if k.startswith("TASKQ_")}
        self.env.update(
            TASKQ_AMQP_URL=space.amqp_url,
            TASKQ_QUEUE=space.queue_name(role),
            TASKQ_DB_PATH=str(self.db_path),
            TASKQ_HTTP_HOST="127.0.0.1",
            TASKQ_HTTP_PORT=str(self.api_port),
            TASKQ_LOG_LEVEL="WARNING",
            TASKQ_STARTUP_TIMEOUT_S="30",
            TASKQ_SHUTDOWN_GRACE_S="20",
            TASKQ_WORK_DELAY_MS="0",
        )
        self.env.update(env)
        self.api: ServiceProcess | None = None
        self.consumers: list[ServiceProcess] = []
        self.consumer_ports: list[int] = []
        self._started: list[ServiceProcess] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def tasks_url(self) -> str:
        return f"{self.url}/tasks"

    def migrate(self) -> None:
        proc = ServiceProcess("migrator", self.env, self.log_dir, cwd=self.checkout)
        code = proc.proc.wait(120)
        proc.terminate()
        if code != 0:
            raise RuntimeError(f"migrator exited {code}:\n{proc.log_tail()}")

    def start_api(self) -> ServiceProcess:
        self.api = ServiceProcess("api", self.env, self.log_dir, cwd=self.checkout)
        self._started.append(self.api)
        self.api.wait_ready(f"{self.url}/readyz")
        return self.api

    def consumer_env(self, **env: str) -> dict[str, str]:
        """A consumer's variables: the stack's and `env`, without any database variable."""
        merged = {**self.env, **env}
        return {k: v for k, v in merged.items() if k not in DATABASE_VARIABLES}

    def start_consumers(self, count: int, **env: str) -> list[ServiceProcess]:
        started = []
        for _ in range(count):
            port = free_port()
            database = {"TASKQ_DB_PATH": str(self.db_path)} if self.consumers_open_db else None
            proc = ServiceProcess(
                "consumer",
                self.consumer_env(**env, TASKQ_CONSUMER_PORT=str(port)),
                self.log_dir,
                cwd=self.checkout,
                extra_env=database,
            )
            self._started.append(proc)
            started.append((proc, port))
        for proc, port in started:
            proc.wait_ready(f"http://127.0.0.1:{port}/readyz")
        procs = [p for p, _ in started]
        self.consumers += procs
        self.consumer_ports += [port for _, port in started]
        return procs

    def stop_consumers(self) -> None:
        for proc in self.consumers:
            proc.terminate()
        self.consumers = []
        self.consumer_ports = []

    def owner_answer_ms(self) -> float | None:
        """The running consumers' mean wait for the owner's answer to a report message, ms
        (`taskq_owner_answer_seconds`): every task waits for two, its claim's and its outcome's."""
        waited = answered = 0.0
        for port in self.consumer_ports:
            with contextlib.suppress(httpx.HTTPError):
                waited += metric(port, "taskq_owner_answer_seconds_sum")
                answered += metric(port, "taskq_owner_answer_seconds_count")
        return waited * 1000 / answered if answered else None

    def stop(self) -> None:
        for proc in reversed(self._started):
            try:
                proc.terminate()
            except Exception:  # keep stopping the others
                proc.proc.kill()
        self._started = []

    def consumer_variables(self) -> list[str]:
        """The TASKQ_* names in the running consumers' real environments (read from /proc)."""
        names: set[str] = set()
        for proc in self.consumers:
            with contextlib.suppress(psutil.Error):
                names |= {k for k in psutil.Process(proc.pid).environ() if k.startswith("TASKQ_")}
        return sorted(names)

    def pids(self) -> dict[str, list[int]]:
        return {
            "api": [self.api.pid] if self.api and self.api.proc.poll() is None else [],
            "consumer": [c.pid for c in self.consumers if c.proc.poll() is None],
        }

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            yield conn
        finally:
            conn.close()

    def count(self, status: str, since_ms: int = 0) -> int:
        with self.db() as conn:
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE status = ? AND created_at >= ?",
                (status, since_ms),
            ).fetchone()
        return int(n)

    def finished(self, since_ms: int) -> list[tuple[int, int]]:
        """(created_at, processed_at) of the completed tasks created since `since_ms`."""
        with self.db() as conn:
            return list(
                conn.execute(
                    "SELECT created_at, processed_at FROM tasks"
                    " WHERE status = 'completed' AND created_at >= ?",
                    (since_ms,),
                )
            )

    def wait_completed(self, expected: int, since_ms: int = 0, timeout: float = 600) -> float:
        """Wait until `expected` tasks created since `since_ms` are final; return the time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db() as conn:
                (final,) = conn.execute(
                    "SELECT COUNT(*) FROM tasks WHERE status IN ('completed', 'failed')"
                    " AND created_at >= ?",
                    (since_ms,),
                ).fetchone()
            if final >= expected:
                return time.time()
            time.sleep(0.05)
        raise TimeoutError(f"only {final} of {expected} tasks final after {timeout}s")

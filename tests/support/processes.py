"""The one kit for running the real services as subprocesses, on settings and ports of their
own, and stopping them whatever happens: the tests, the benchmark (bench/stack.py) and the docs'
screenshot all use it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx

from shared.config import VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[2]
# What only the database's owner (the API) and the migrator read; a consumer never gets them.
DATABASE_VARIABLES = frozenset({"TASKQ_DB_PATH", "TASKQ_DB_SYNCHRONOUS", "TASKQ_COMMIT_LINGER_MS"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port that refuses connections while the block runs: bound, never listened on. Unlike
    a port free_port() returned, no other test's server can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def isolated_settings(
    amqp_url: str, directory: Path, *, queue_prefix: str = "t", **overrides: Any
) -> Settings:
    """Settings of one test's services: queues, a database file in `directory` and ports of
    their own, no simulated work, quick retries; `overrides` replace any field."""
    made = Settings(
        amqp_url=amqp_url,
        db_path=str(directory / "tasks.db"),
        http_host="127.0.0.1",
        http_port=free_port(),
        consumer_port=free_port(),
        queue=f"{queue_prefix}{uuid.uuid4().hex[:10]}",
        work_delay_ms=0,
        startup_timeout_s=15,
        retry_delays_s=(0.2, 0.4),
        shutdown_grace_s=10,
        orphan_age_s=30,
    )
    return dataclasses.replace(made, **overrides)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a service build exactly `settings`."""
    by_field = {field: var for var, field in VARIABLES.items()}
    env: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(f"{v:g}" for v in value)
        env[by_field[f.name]] = str(value)
    return env


class ServiceProcess:
    """One service (`api`, `consumer`, `migrator`) running as `python -m services.<name>`."""

    def __init__(
        self,
        name: str,
        settings: Settings | Mapping[str, str],
        log_dir: Path,
        *,
        argv: list[str] | None = None,
        cwd: Path = ROOT,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """`settings` as a Settings or as the TASKQ_* variables themselves; `argv` replaces
        `python -m services.<name>` (to wrap it, say), `cwd` the checkout."""
        self.name = name
        if isinstance(settings, Settings):
            self.settings = settings
            variables = settings_env(settings)
        else:
            variables = dict(settings)
            self.settings = Settings.from_env(variables)
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
        env.update(variables)
        if name == "consumer":
            # A consumer has no database: give it no way to find one.
            for var in DATABASE_VARIABLES:
                env.pop(var, None)
        env.update(extra_env or {})
        env["PYTHONUNBUFFERED"] = "1"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv or [sys.executable, "-m", f"services.{name}"],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_ready(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout}s:\n{self.log()}")

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def terminate(self, timeout: float = 40) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


class Stack:
    """A factory of service processes that stops every one it started, newest first."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def migrate(self, **extra_env: str) -> ServiceProcess:
        proc = ServiceProcess("migrator", self.settings, self.log_dir, extra_env=extra_env)
        self.started.append(proc)
        code = proc.wait(120)
        assert code == 0, f"migrator exited {code}:\n{proc.log()}"
        return proc

    def api(self, settings: Settings | None = None, **extra_env: str) -> ServiceProcess:
        settings = settings or self.settings
        proc = ServiceProcess("api", settings, self.log_dir, extra_env=extra_env)
        self.started.append(proc)
        proc.wait_ready(f"http://127.0.0.1:{settings.http_port}/readyz")
        return proc

    def consumer(
        self,
        settings: Settings | None = None,
        *,
        owner_up: bool = True,
        argv: list[str] | None = None,
        cwd: Path = ROOT,
        **extra_env: str,
    ) -> ServiceProcess:
        """A consumer, ready (the API answers it) or, with `owner_up=False`, only alive."""
        settings = settings or self.settings
        proc = ServiceProcess(
            "consumer", settings, self.log_dir, argv=argv, cwd=cwd, extra_env=extra_env
        )
        self.started.append(proc)
        probe = "readyz" if owner_up else "healthz"
        proc.wait_ready(f"http://127.0.0.1:{settings.consumer_port}/{probe}")
        return proc

    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            try:
                proc.terminate()
            except Exception:  # keep stopping the others
                proc.kill()

"""`make up` / `make down` without Docker: a real supervisord running the real services against a
real broker, in a temporary run directory, on free ports, in a throwaway vhost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support.broker import Broker, vhost_on
from tests.support.processes import ROOT, free_port, refused_port
from tests.support.waiting import wait_until

VENV = Path(sys.executable).parent.parent
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str) -> int | None:
    try:
        with _opener.open(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def base_env(run_dir: Path, amqp_url: str) -> dict[str, str]:
    """The caller's environment minus anything that would steer the stack elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TASKQ_") and key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    env.update(
        STACK="local",
        TASKQ_AMQP_URL=amqp_url,
        TASKQ_RUN_DIR=str(run_dir / "run"),
        TASKQ_DB_PATH=str(run_dir / "tasks.db"),
        TASKQ_HTTP_PORT=str(free_port()),
        TASKQ_CONSUMER_PORT=str(free_port()),
        TASKQ_STARTUP_TIMEOUT_S="20",
        TASKQ_UP_TIMEOUT_S="90",
    )
    return env


@dataclass
class LocalStack:
    env: dict[str, str]

    def make(self, target: str) -> subprocess.CompletedProcess[str]:
        # -o: never reinstall from inside a test; the venv running pytest is the one to use
        stamp = str(VENV / ".installed")
        return subprocess.run(
            ["make", "--no-print-directory", f"VENV={VENV}", "-o", stamp, target],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    @property
    def pid_file(self) -> Path:
        return Path(self.env["TASKQ_RUN_DIR"]) / "supervisord.pid"

    def supervisord_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def readyz(self, port_var: str) -> str:
        return f"http://127.0.0.1:{self.env[port_var]}/readyz"

    def service_pids(self) -> dict[str, int]:
        pids = {}
        for child in psutil.Process(self.supervisord_pid()).children():
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:  # exited, not yet reaped by supervisord
                continue
            for name in ("api", "consumer"):
                if f"services.{name}" in cmdline:
                    pids[name] = child.pid
        return pids


@pytest.fixture
def vhost_amqp_url(broker: Broker) -> Iterator[str]:
    """A vhost of its own on the test broker: the local stack declares the default names."""
    with vhost_on(broker.amqp_url, broker.mgmt_url) as own:
        yield own.amqp_url


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # short: the supervisor control socket lives here and unix socket paths are limited
    path = Path(tempfile.mkdtemp(prefix="tq-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def local_stack(run_dir: Path, vhost_amqp_url: str) -> Iterator[LocalStack]:
    stack = LocalStack(base_env(run_dir, vhost_amqp_url))
    try:
        yield stack
    finally:
        try:
            down = stack.make("down")
            said = f"{down.stdout}\n{down.stderr}"
        except subprocess.TimeoutExpired:
            said = "`make down` timed out"
        if stack.pid_file.exists() and alive(pid := stack.supervisord_pid()):
            os.kill(pid, signal.SIGKILL)  # only if `make down` failed; the failure says so
            pytest.fail(f"`make down` left supervisord running:\n{said}")


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_up_is_idempotent_restarts_crashes_and_down_stops_everything(
    local_stack: LocalStack,
) -> None:
    stack = local_stack
    first = stack.make("up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "taskq is up" in first.stdout
    assert http_status(stack.readyz("TASKQ_HTTP_PORT")) == 200
    assert http_status(stack.readyz("TASKQ_CONSUMER_PORT")) == 200
    supervisord = stack.supervisord_pid()
    services = stack.service_pids()
    assert set(services) == {"api", "consumer"}

    second = stack.make("up")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already running" in second.stdout
    assert stack.supervisord_pid() == supervisord
    assert stack.service_pids() == services

    os.kill(services["api"], signal.SIGKILL)
    wait_until(
        lambda: (
            stack.service_pids().get("api", services["api"]) != services["api"]
            and http_status(stack.readyz("TASKQ_HTTP_PORT")) == 200
        ),
        60,
        "supervisord to restart the killed API",
        every=0.3,
    )

    everything = [supervisord, *stack.service_pids().values()]
    down = stack.make("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [pid for pid in everything if alive(pid)]
    assert not stack.pid_file.exists()
    assert http_status(stack.readyz("TASKQ_HTTP_PORT")) is None
    assert http_status(stack.readyz("TASKQ_CONSUMER_PORT")) is None


def test_up_without_a_broker_fails_with_one_clear_line(run_dir: Path) -> None:
    # a closed port that is not 5672, so `make up` must not try to start a local broker
    with refused_port() as port:
        stack = LocalStack(base_env(run_dir, f"amqp://guest:guest@127.0.0.1:{port}/"))
        result = stack.make("up")
    assert result.returncode != 0
    assert "RabbitMQ is not reachable at 127.0.0.1:" in result.stderr
    assert not stack.pid_file.exists()


def test_down_when_nothing_runs_is_a_no_op(run_dir: Path) -> None:
    stack = LocalStack(base_env(run_dir, "amqp://guest:guest@127.0.0.1:5672/"))
    result = stack.make("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not running" in result.stdout

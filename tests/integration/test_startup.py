"""Each service refuses to start, with one clear line and a non-zero exit, on a bad variable or
an un-migrated database. Real processes; no broker is needed to refuse."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from tests.support.processes import ROOT, free_port, refused_port, settings_env

SERVICES = ("api", "consumer", "migrator")


def run_service(name: str, settings: Settings, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **settings_env(settings), **extra}
    return subprocess.run(
        [sys.executable, "-m", f"services.{name}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Settings]:
    """Settings whose broker is a closed port: whatever is tested must fail before it matters."""
    with refused_port() as broker_port:
        yield Settings(
            amqp_url=f"amqp://guest:guest@127.0.0.1:{broker_port}/",
            db_path=str(tmp_path / "tasks.db"),
            http_host="127.0.0.1",
            http_port=free_port(),
            consumer_port=free_port(),
            startup_timeout_s=1,
        )


@pytest.mark.parametrize("service", SERVICES)
def test_a_bad_variable_stops_the_service_with_one_line(offline: Settings, service: str) -> None:
    # Every variable's check is in tests/shared/test_config.py; this is about the process.
    done = run_service(service, offline, TASKQ_PREFETCH="x")
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "TASKQ_PREFETCH must be a positive integer, got 'x'" in lines[0]
    assert not Path(offline.db_path).exists(), "nothing happens before the settings are valid"


@pytest.mark.parametrize("service", ["api"])
@pytest.mark.parametrize("state", ["missing", "empty"])
def test_refuses_an_unmigrated_database(offline: Settings, service: str, state: str) -> None:
    if state == "empty":
        sqlite3.connect(offline.db_path).close()
    done = run_service(service, offline)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "run the migrator first" in output
    assert offline.db_path in output
    assert "Traceback" not in output
    assert "broker unreachable" not in output, "the database is checked before the broker"
    if state == "missing":
        assert not Path(offline.db_path).exists(), "a service never creates the database"

"""The migrator as a process: idempotent, creates what it needs, fails with one clear line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from services.migrator.migrations import load_migrations
from shared.config import Settings
from tests.support.broker import Broker
from tests.support.processes import ROOT, Stack, refused_port, settings_env


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.integration
def test_runs_twice_and_the_second_run_is_a_no_op(
    stack: Stack, settings: Settings, broker: Broker
) -> None:
    first = stack.migrate()
    second = stack.migrate()
    assert second.proc.returncode == 0

    def applied(proc) -> int:
        (ready,) = [r for r in log_lines(proc.log()) if r["msg"] == "database ready"]
        return ready["applied"]

    assert applied(first) == len(load_migrations())
    assert applied(second) == 0
    with closing(sqlite3.connect(settings.db_path, isolation_level=None)) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert versions == [m.version for m in load_migrations()]
    # the broker side is in place too
    assert broker.queue(settings.queue)["type"] == "quorum"


@pytest.mark.integration
def test_creates_the_database_folder(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "tasks.db"
    stack.migrate(TASKQ_DB_PATH=str(path))
    assert path.exists()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_unreachable_broker_is_one_clear_line_and_a_failure(tmp_path: Path) -> None:
    with refused_port() as port:
        settings = Settings(
            amqp_url=f"amqp://guest:s3cret@127.0.0.1:{port}/",
            db_path=str(tmp_path / "tasks.db"),
            startup_timeout_s=2,
        )
        done = subprocess.run(
            [sys.executable, "-m", "services.migrator"],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", **settings_env(settings)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [r for r in log_lines(done.stderr) if r["level"] == "ERROR"]
    assert len(errors) == 1, done.stderr
    assert "broker unreachable" in errors[0]["msg"]
    assert f"127.0.0.1:{settings.amqp_url.rsplit(':', 1)[1]}" in errors[0]["msg"]
    assert "s3cret" not in done.stderr

"""A consumer runs anywhere: no database file, no database variable, the data directory hidden
from it by a private mount namespace, and an empty working directory. Tasks still complete,
because every state change travels through the broker to the API."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.config import Settings
from tests.support.processes import DATABASE_VARIABLES, Stack, settings_env
from tests.support.waiting import wait_final_row

pytestmark = pytest.mark.integration

CONSUMER = Path(sys.executable).with_name("taskq-consumer")


def can_hide_directories() -> str | None:
    """Why `unshare --mount` with a tmpfs cannot run here, or None when it can."""
    if shutil.which("unshare") is None:
        return "no `unshare` (util-linux) on PATH"
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"`unshare --mount` + tmpfs failed (needs root): {probe.stderr.strip()}"
    return None


@pytest.fixture
def hidden_data(tmp_path: Path, settings: Settings, settings_with) -> Settings:
    """Settings whose database lives in a directory of its own, to hide from the consumer."""
    reason = can_hide_directories()
    if reason is not None:
        pytest.fail(reason)
    data = tmp_path / "data"
    data.mkdir()
    return settings_with(settings, db_path=str(data / "tasks.db"))


def test_a_consumer_without_the_database_completes_tasks(
    stack: Stack, hidden_data: Settings, tmp_path: Path
) -> None:
    settings = hidden_data
    stack.settings = settings
    stack.migrate()
    stack.api(settings)
    db = Path(settings.db_path)
    assert db.exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Inside its own mount namespace the data directory is an empty tmpfs; the script proves
    # the file is out of reach before it becomes the consumer.
    script = (
        f"mount -t tmpfs none {shlex.quote(str(db.parent))}"
        f" && test ! -e {shlex.quote(str(db))}"
        f" && exec {shlex.quote(str(CONSUMER))}"
    )
    consumer = stack.consumer(
        settings, argv=["unshare", "--mount", "sh", "-c", script], cwd=elsewhere
    )
    env = settings_env(settings)
    assert not set(DATABASE_VARIABLES) & {k for k in consumer_env(consumer.pid) if k in env}
    ids = []
    with httpx.Client(base_url=stack.api_url(), timeout=10) as client:
        for n in range(20):
            response = client.post(
                "/tasks", json={"action": "uppercase", "data": {"text": f"far away {n}"}}
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
    for n, task_id in enumerate(ids):
        row = wait_final_row(settings, task_id)
        assert row["status"] == "completed"
        assert row["result"] == f'{{"output":"FAR AWAY {n}"}}'
    assert list(elsewhere.iterdir()) == [], "the consumer wrote nothing where it runs"
    assert "Traceback" not in consumer.log()


def consumer_env(pid: int) -> set[str]:
    """The variable names the consumer process (the one `sh` exec'd into) really has."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return {item.split(b"=", 1)[0].decode() for item in raw.split(b"\0") if item}

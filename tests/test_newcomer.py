"""A newcomer's `make test`: with no TASKQ_* variable it finds the local broker by itself, and
without any broker it fails with one line saying how to start one, never skips into green."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import broker as broker_module
from tests.support.broker import NO_BROKER, NoBroker, locate
from tests.support.processes import ROOT

# real API, migrator and consumer processes, a task submitted and completed through the broker
INTEGRATION_TEST = "tests/integration/test_flow.py::test_seed_examples_complete"


def _newcomer_env() -> dict[str, str]:
    """This environment without TASKQ_*, CI, pytest's own or an outer make's variables."""
    dropped = ("TASKQ_", "PYTEST_", "MAKE")
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(dropped) and k not in {"CI", "MFLAGS"}
    }


@pytest.mark.integration
@pytest.mark.timeout(280)
def test_make_test_in_a_fresh_clone_finds_the_broker_by_itself(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix):
        pytest.fail("run the tests from the project's venv (`make install`)", pytrace=False)
    clone = tmp_path / "taskq"
    subprocess.run(
        ["git", "clone", "--quiet", str(ROOT), str(clone)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # -o: the clone's pyproject.toml is newer than the venv's install stamp, and reinstalling
    # would point the shared editable install at this clone.
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            str(venv / ".installed"),
            "test",
            f"VENV={venv}",
            f"PYTEST_ARGS={INTEGRATION_TEST} -p no:cacheprovider",
        ],
        cwd=clone,
        env=_newcomer_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    said = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, said
    assert re.search(r"\b1 passed\b", done.stdout), said
    assert "skipped" not in done.stdout, said


@pytest.fixture
def nothing_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """No TASKQ_* broker, no Docker, and the local broker's defaults on a port that refuses."""
    with socket.socket() as bound:  # bound but not listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        for name in ("TASKQ_TEST_AMQP_URL", "TASKQ_TEST_MGMT_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(
            broker_module, "LOCAL_AMQP_URL", f"amqp://guest:guest@127.0.0.1:{port}/"
        )
        monkeypatch.setattr(broker_module, "LOCAL_MGMT_URL", f"http://guest:guest@127.0.0.1:{port}")
        monkeypatch.setattr(broker_module, "docker_available", lambda: False)
        yield f"127.0.0.1:{port}"


def test_without_any_broker_the_run_fails_saying_how_to_start_one(nothing_answers: str) -> None:
    with pytest.raises(NoBroker) as raised:
        locate()
    assert str(raised.value) == NO_BROKER
    assert "\n" not in NO_BROKER
    assert "rabbitmq-server -detached" in NO_BROKER and "make up" in NO_BROKER


def test_a_broker_without_its_management_api_says_to_enable_the_plugin(
    nothing_answers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as amqp:  # the AMQP port answers; the management port still refuses
        amqp.bind(("127.0.0.1", 0))
        amqp.listen()
        port = amqp.getsockname()[1]
        monkeypatch.setattr(
            broker_module, "LOCAL_AMQP_URL", f"amqp://guest:guest@127.0.0.1:{port}/"
        )
        with pytest.raises(NoBroker) as raised:
            locate()
    message = str(raised.value)
    assert "\n" not in message
    assert "`rabbitmq-plugins enable rabbitmq_management`" in message

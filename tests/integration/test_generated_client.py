"""A client generated from the live /openapi.json by openapi-python-client: the generator warns about
nothing, and the client it writes submits, reads, lists and replays tasks against the real stack.

Issue 10: the generator once dropped `NewTask` (and with it POST /tasks) without failing, so the
test reads the generator's output as well as using what it wrote.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.config import Settings
from tests.support.processes import Stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PACKAGE = "taskq_client"


def generate(url: str, cwd: Path) -> str:
    """Run openapi-python-client on `url` into `cwd/PACKAGE`; returns what it printed."""
    venv_bin = Path(sys.executable).parent
    # its post-hooks run `ruff`, which the venv has; without it on PATH the generator warns
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(
        [
            str(venv_bin / "openapi-python-client"),
            "generate",
            "--url",
            url,
            "--meta",
            "none",  # the package alone: no pyproject, so nothing to install
            "--output-path",
            str(cwd / PACKAGE),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    return output


@pytest.fixture
def import_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], ModuleType]]:
    """`import_generated("api.tasks.get_task")`: a module of the package generated in tmp_path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def wait_status(
    api: ModuleType, client: Any, task_id: Any, status: str, timeout: float = 30
) -> Any:
    """Read the task through the generated client until it has `status`."""

    def check() -> Any:
        task = api.sync(task_id=task_id, client=client)
        return task if task.status == status else None

    return wait_until(check, timeout, f"task {task_id} to be {status}")


def test_client_generated_from_the_live_document_drives_the_api(
    stack: Stack,
    settings: Settings,
    settings_with: Callable[..., Settings],
    tmp_path: Path,
    import_generated: Callable[[str], ModuleType],
) -> None:
    stack.migrate()
    stack.api()
    # one attempt: a failing task is failed at once, ready to be replayed
    stack.consumer(settings_with(settings, max_attempts=1))

    output = generate(f"{stack.api_url()}/openapi.json", tmp_path)
    assert output.strip() == f"Generating {tmp_path / PACKAGE}", output

    client_module = import_generated("client")
    models = import_generated("models")
    create_task = import_generated("api.tasks.create_task")
    get_task = import_generated("api.tasks.get_task")
    list_tasks = import_generated("api.tasks.list_tasks")
    retry_task = import_generated("api.tasks.retry_task")

    with client_module.Client(base_url=stack.api_url(), raise_on_unexpected_status=True) as client:
        body = models.NewTask(
            action="uppercase", data=models.NewTaskDataType0.from_dict({"text": "hello world"})
        )
        submitted = create_task.sync_detailed(client=client, body=body)
        assert submitted.status_code == 202, submitted.content
        assert isinstance(submitted.parsed, models.Accepted)
        assert submitted.parsed.status == models.Status.QUEUED
        task_id = submitted.parsed.id
        assert submitted.headers["Location"] == f"/tasks/{task_id}"

        task = wait_status(get_task, client, task_id, models.Status.COMPLETED)
        assert isinstance(task, models.Task)
        assert task.result.to_dict() == {"output": "HELLO WORLD"}
        assert task.data.to_dict() == {"text": "hello world"}
        assert task.error is None and task.attempts == 1

        page = list_tasks.sync(client=client, status=models.ListTasksStatus.COMPLETED)
        assert isinstance(page, models.TaskPage)
        assert [t.id for t in page.tasks] == [task_id] and page.count == 1

        # no data at all: the generated NewTask leaves it out of the body
        failing = create_task.sync(client=client, body=models.NewTask(action="fail"))
        assert isinstance(failing, models.Accepted)
        failed = wait_status(get_task, client, failing.id, models.Status.FAILED)
        assert failed.error and failed.attempts == 1

        replayed = retry_task.sync_detailed(task_id=failing.id, client=client)
        assert replayed.status_code == 202, replayed.content
        assert isinstance(replayed.parsed, models.Accepted)
        assert replayed.parsed.id == failing.id
        assert replayed.parsed.status == models.Status.QUEUED

"""Running `taskq` in-process with typer's CliRunner, against a real stack, a stub API or none."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner, Result

from services.cli.main import app
from shared.config import Settings
from tests.cli.stub_api import StubApi, stub_api
from tests.support.processes import Stack

Taskq = Callable[..., Result]
Replace = Callable[..., Settings]
TOKEN = "cli-token"


def runner(url: str, token: str | None) -> Taskq:
    env = {"TASKQ_URL": url, "TASKQ_API_TOKEN": token, "COLUMNS": "120"}

    def taskq(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    return taskq


@pytest.fixture
def live(stack: Stack, settings: Settings, settings_with: Replace) -> Taskq:
    """`taskq` pointed at a running API and consumer (with a token, one attempt per task)."""
    secured = settings_with(settings, api_token=TOKEN, max_attempts=1)
    stack.migrate()
    stack.api(secured)
    stack.consumer(secured)
    return runner(stack.api_url(), TOKEN)


@pytest.fixture
def api() -> Iterator[StubApi]:
    """A stand-in API answering with canned tasks and stats (see stub_api.py)."""
    with stub_api() as stub:
        yield stub

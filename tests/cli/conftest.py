"""Running `taskq` in-process with typer's CliRunner, against a real stack or none."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from services.cli.main import app

Taskq = Callable[..., Result]
TOKEN = "cli-token"


def runner(url: str, token: str | None) -> Taskq:
    env = {"TASKQ_URL": url, "TASKQ_API_TOKEN": token, "COLUMNS": "120"}

    def taskq(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    return taskq


@pytest.fixture
def live(stack, settings, settings_with) -> Taskq:
    """`taskq` pointed at a running API and consumer (with a token, one attempt per task)."""
    secured = settings_with(settings, api_token=TOKEN, max_attempts=1)
    stack.migrate()
    stack.api(secured)
    stack.consumer(secured)
    return runner(stack.api_url(), TOKEN)

"""What `taskq` does without an API: usage errors exit 2, an unreachable API exits 1, in one line."""

from __future__ import annotations

import pytest

from tests.cli.conftest import runner
from tests.support.processes import free_port


@pytest.fixture
def taskq():
    return runner(f"http://127.0.0.1:{free_port()}", None)


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["get", "3f2a0000-0000-4000-8000-000000000000"],
        ["submit", "uppercase", "--wait"],
        ["list"],
        ["retry", "--status", "failed"],
    ],
)
def test_unreachable_api_is_one_line_and_exit_1(taskq, args) -> None:
    result = taskq(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot reach the taskq API at http://127.0.0.1:")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["submit"],
        ["submit", "sum", "--data", "[1, 2]"],
        ["submit", "sum", "--data", "{not json"],
        ["submit", "sum", "--count", "0"],
        ["submit", "sum", "--count", "3", "--idempotency-key", "k"],
        ["list", "--status", "done"],
        ["list", "--limit", "0"],
        ["list", "--watch", "--json"],
        ["retry"],
        ["retry", "3f2a0000-0000-4000-8000-000000000000", "--status", "failed"],
        ["retry", "--status", "completed"],
        ["retry", "3f2a0000-0000-4000-8000-000000000000", "--action", "sum"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2_without_calling_the_api(taskq, args) -> None:
    result = taskq(*args)
    assert result.exit_code == 2, result.output
    assert "cannot reach" not in result.output

"""Schemathesis against the live API (real processes, real broker), from its own /openapi.json:
no 5xx, and every status, header and body the API answers is one the document declares.

It runs Schemathesis' CLI, which drives every phase (examples, coverage, fuzzing and the stateful
phase that follows the document's links). Its pytest plugin is not used: with pytest 9 its lazy
fixture loader fails before running anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import Settings
from tests.support.processes import Stack

pytestmark = pytest.mark.integration

TOKEN = "schemathesis-token"
MAX_EXAMPLES = 30  # per operation and phase: about 700 requests, well under a minute here
SEED = 20240611  # the same inputs every run; drop --seed locally to explore further

# Every check is on (the default); these are the exceptions, each for a reason the document
# cannot express. (--checks on the command line would override them.)
CONFIG = """
[[operations]]
include-operation-id = "listTasks"
# a cursor is opaque: only one that a listing handed out is valid, any other is a 400
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401"]

[[operations]]
include-operation-id = "createTask"
# each action checks its own data (422), and so does a reused Idempotency-Key; the same key
# again while its first request's task waits for a confirm is a 409 with Retry-After
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "409", "422"]

[[operations]]
include-operation-id = "deleteTask"
# only a final task can be deleted; a generated id names no task at all
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "409"]

[[operations]]
include-operation-id = "createSchedule"
# a name may exist already; a cron expression or time zone is only known good once parsed
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "409", "422"]

[[operations]]
include-operation-id = "patchSchedule"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "422"]

[[operations]]
include-operation-id = "getSchedule"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404"]

[[operations]]
include-operation-id = "deleteSchedule"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404"]

[[operations]]
include-path = "/tasks/retry"
# GET on this path is GET /tasks/{task_id} with the id "retry" (400, not 405), so a 405's
# Allow header lists GET too
checks.unsupported_method.enabled = false
checks.allow_header_conformance.enabled = false

[[operations]]
include-path = "/tasks/batch"
# as /tasks/retry: GET is GET /tasks/{task_id}
checks.unsupported_method.enabled = false
checks.allow_header_conformance.enabled = false

[[operations]]
include-operation-id = "createTasks"
# as createTask (a due item goes through the dispatcher, so its key can be in flight longer)
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "409", "422"]

[[operations]]
include-path = "/tasks/cancel"
# as /tasks/retry: GET is GET /tasks/{task_id}
checks.unsupported_method.enabled = false
checks.allow_header_conformance.enabled = false
"""


def schemathesis_cli() -> str:
    return str(Path(sys.executable).with_name("schemathesis"))


AST_CRASH = "AST constructor recursion depth mismatch"


def test_live_api_conforms_to_its_openapi_document(
    stack: Stack, settings: Settings, settings_with, tmp_path: Path
) -> None:
    secured = settings_with(settings, api_token=TOKEN)
    stack.migrate()
    stack.api(secured)
    stack.consumer(secured)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)

    command = [
        schemathesis_cli(),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{stack.api_url()}/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--request-timeout",
        "20",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=280, check=False
    )
    report = run.stdout + run.stderr
    if run.returncode != 0 and AST_CRASH in report:
        # CPython 3.11 sometimes crashes inside hypothesis's lambda-source reader (a SystemError
        # in the tool, before any request is judged): run it once more, the API is untouched.
        run = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=280, check=False
        )
        report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "API Operations:\n  Selected: 18/18\n  Tested: 18" in report, report

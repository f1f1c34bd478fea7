"""The API's OpenAPI 3.1 document, built from the same limits and statuses the code enforces.

tests/api/test_openapi.py keeps it in step with the route table, and the schemathesis test
checks every live response against it.
"""

from __future__ import annotations

import copy

from services.api import openapi_control, openapi_time
from services.api.openapi_parts import (
    ACTION_FILTER,
    TASK_ID,
    TIMESTAMP,
    UUID_PATTERN,
    Schema,
    closed,
    complete,
    error,
    header,
    idempotency_key,
    json_body,
    json_request,
    nullable,
    operation,
    query,
    ref,
    use,
)
from services.api.validation import DEFAULT_LIMIT, MAX_ACTION_LENGTH, MAX_LIMIT
from shared.names import Priority, Status

ACTION = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ACTION_LENGTH,
    "pattern": r"\S",
    "description": "An action name: any name runs (unknown ones are only marked processed).",
}
STATUS = {"type": "string", "enum": [s.value for s in Status]}
# a form that leaves the field empty means "any status"
STATUS_FILTER = {"type": "string", "enum": [*(s.value for s in Status), ""]}
PRIORITY = {"type": "string", "enum": [p.value for p in Priority]}

SUBMITTED_PRIORITY = {
    "type": ["string", "null"],
    "enum": [*PRIORITY["enum"], None],
    "description": "`high` goes to the high lane; absent or null means normal.",
}

NEW_TASK = closed(
    ["action"],
    action=ACTION,
    # No `default: {}`: openapi-python-client refuses a default on an object schema and drops
    # NewTask, and with it POST /tasks (issue 10). The description says it instead.
    data={
        "type": ["object", "null"],
        "description": "The action's input; absent or null means `{}`. Each action may "
        "refuse data it cannot use (422).",
    },
    **openapi_time.SUBMISSION_FIELDS,
    priority=SUBMITTED_PRIORITY,
)

SCHEMAS: dict[str, Schema] = {
    "Status": STATUS,
    "Task": complete(
        id={"type": "string", "format": "uuid"},
        action={"type": "string"},
        data={"type": "object"},
        status=ref("Status"),
        result=nullable({"type": "object", "description": "What the action returned."}),
        error=nullable({"type": "string", "description": "Why the last attempt failed."}),
        attempts={"type": "integer", "minimum": 0},
        created_at=TIMESTAMP,
        started_at=nullable(TIMESTAMP),
        processed_at=nullable(TIMESTAMP),
        **openapi_time.TASK_FIELDS,
        priority=PRIORITY,
        progress={
            "type": ["object", "null"],
            "description": "The latest progress the action reported, if any.",
            "required": ["fraction", "message", "updated_at"],
            "properties": {
                "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                "message": {"type": ["string", "null"]},
                "updated_at": TIMESTAMP,
            },
            "additionalProperties": False,
        },
    ),
    "NewTask": NEW_TASK,
    "Accepted": complete(
        id={"type": "string", "format": "uuid"},
        status=ref("Status"),
    ),
    "TaskPage": complete(
        tasks={"type": "array", "items": ref("Task")},
        count={"type": "integer", "minimum": 0},
        next_cursor=nullable(
            {"type": "string", "description": "Pass as `cursor` for the next page."}
        ),
    ),
    "Replayed": complete(
        retried={"type": "integer", "minimum": 0, "description": "Failed tasks queued again."},
        more={"type": "boolean", "description": "More failed tasks are left: call again."},
    ),
    "Stats": complete(
        counts=complete(**{s.value: {"type": "integer", "minimum": 0} for s in Status}),
        total={"type": "integer", "minimum": 0},
        by_priority={
            "type": "object",
            "description": "Unfinished tasks (queued, running, retrying) per priority lane.",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
        },
        queues={
            "type": ["object", "null"],
            "additionalProperties": {"type": "integer", "minimum": 0},
            "description": "Messages ready per queue (work, retry, dead); null without a broker.",
        },
        completed_per_minute={
            "type": "array",
            "minItems": 60,
            "maxItems": 60,
            "description": "The last hour, oldest minute first, the current minute last.",
            "items": complete(
                minute=TIMESTAMP,
                count={"type": "integer", "minimum": 0},
            ),
        },
    ),
    "Health": complete(status={"type": "string", "enum": ["ok"]}),
    "Readiness": complete(
        status={"type": "string", "enum": ["ready", "not ready"]},
        broker={"type": "boolean"},
        database={"type": "boolean"},
    ),
    **openapi_time.SCHEMAS,
    "Error": closed(
        ["error"],
        error={"type": "string"},
        field={"type": "string", "description": "The input at fault, when there is one."},
        index={"type": "integer", "minimum": 0, "description": "The batch item at fault."},
    ),
}

LOCATION = {"Location": header("The task's URL.")}
RETRY_AFTER = {"Retry-After": header("Seconds to wait before trying again.")}

RESPONSES: dict[str, Schema] = {
    "BadRequest": error("The request is malformed; `error` says how."),
    "Unauthorized": error(
        "TASKQ_API_TOKEN is set and no valid `Authorization: Bearer` was sent.",
        {"WWW-Authenticate": header("Always `Bearer`.")},
    ),
    "NotFound": error("No task has this id."),
    "NotQueued": error("The broker did not confirm the publish; nothing was queued.", RETRY_AFTER),
}

PARAMETERS: dict[str, Schema] = {
    "TaskId": {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    },
}


TASK_LINKS = {
    "GetTask": {"operationId": "getTask", "parameters": {"task_id": "$response.body#/id"}},
    "RetryTask": {"operationId": "retryTask", "parameters": {"task_id": "$response.body#/id"}},
}
SUBMISSIONS = {
    "uppercase": {"value": {"action": "uppercase", "data": {"text": "hello world"}}},
    "sum": {"value": {"action": "sum", "data": {"numbers": [1, 2, 3.5]}}},
    "fail": {
        "summary": "Fails on the first attempt, then succeeds on its retry",
        "value": {"action": "fail", "data": {"times": 1}},
    },
    "refused": {
        "summary": "Refused with 422: the action cannot use this data",
        "value": {"action": "sum", "data": {"numbers": "1, 2"}},
    },
}

PATHS: dict[str, Schema] = {
    "/tasks": {
        "post": operation(
            "createTask",
            "tasks",
            "Submit a task",
            description="Stores the task, publishes it with a broker confirm, then answers 202. "
            "With an Idempotency-Key, a repeat of the same request answers the first task.",
            parameters=[
                idempotency_key("Printable ASCII; the same key and body give the same task.")
            ],
            body=json_request("NewTask", examples=SUBMISSIONS),
            s202={
                **json_body(
                    ref("Accepted"),
                    "Queued (or, for a repeated Idempotency-Key, the task it named).",
                    {
                        **LOCATION,
                        "Idempotent-Replayed": header(
                            "`true` when an earlier request with this key made the task."
                        ),
                    },
                ),
                "links": TASK_LINKS,
            },
            s409=error(
                "An earlier request with this Idempotency-Key still waits for the broker's "
                "confirm; repeat it after Retry-After.",
                RETRY_AFTER,
            ),
            s413=error("The body is over 1 MiB."),
            s422=error(
                "The action refuses the data (`field` names it), or the Idempotency-Key "
                "was used with another body."
            ),
            s503=use("NotQueued"),
        ),
        "get": operation(
            "listTasks",
            "tasks",
            "List tasks, newest first",
            parameters=[
                query("status", STATUS_FILTER, "Only tasks in this status (empty: any)."),
                query("action", ACTION_FILTER, "Only tasks of this action."),
                query("priority", {**PRIORITY, "enum": [*PRIORITY["enum"], ""]}, "Only this lane."),
                query(
                    "limit",
                    {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                    "Page size.",
                ),
                query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
            ],
            s200=json_body(ref("TaskPage"), "A page of tasks."),
        ),
    },
    "/tasks/retry": {
        "post": operation(
            "retryFailedTasks",
            "tasks",
            "Put failed tasks back in the queue",
            description="Replays up to 10 000 failed tasks (oldest first) with fresh attempts.",
            parameters=[
                query(
                    "status",
                    {"type": "string", "enum": ["failed"], "default": "failed"},
                    "Only failed tasks can be retried.",
                ),
                query("action", ACTION_FILTER, "Only failed tasks of this action."),
            ],
            s202=json_body(ref("Replayed"), "The failed tasks are queued again."),
            s503=use("NotQueued"),
        ),
    },
    "/tasks/{task_id}": {
        "parameters": TASK_ID,
        "get": operation(
            "getTask",
            "tasks",
            "One task, with its result or error",
            s200=json_body(ref("Task"), "The task."),
            s404=use("NotFound"),
        ),
        "delete": openapi_time.DELETE_TASK,
    },
    "/tasks/{task_id}/retry": {
        "parameters": TASK_ID,
        "post": operation(
            "retryTask",
            "tasks",
            "Put a failed task back in the queue",
            s202=json_body(ref("Accepted"), "The task is queued again.", LOCATION),
            s404=use("NotFound"),
            s409=error("The task is not failed."),
            s503=use("NotQueued"),
        ),
    },
    "/stats": {
        "get": operation(
            "getStats",
            "monitoring",
            "Counts per status, queue depths, completions per minute",
            bad_request=False,
            s200=json_body(ref("Stats"), "The numbers the dashboard shows."),
        ),
    },
    "/healthz": {
        "get": operation(
            "healthz",
            "monitoring",
            "Liveness probe",
            public=True,
            bad_request=False,
            s200=json_body(ref("Health"), "The process is alive."),
        ),
    },
    "/readyz": {
        "get": operation(
            "readyz",
            "monitoring",
            "Readiness probe: the broker connection and the database",
            public=True,
            bad_request=False,
            s200=json_body(ref("Readiness"), "Ready to take tasks."),
            s503=json_body(ref("Readiness"), "Not ready; the flags say what is missing."),
        ),
    },
    "/metrics": {
        "get": operation(
            "metrics",
            "monitoring",
            "Prometheus metrics",
            bad_request=False,
            s200={
                "description": "The Prometheus text format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        ),
    },
}


def document() -> Schema:
    """The OpenAPI 3.1 document of the API (a fresh copy each call)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "taskq",
                "version": "1.0.0",
                "description": "A task queue on RabbitMQ that never loses a task and always shows "
                'its state. Timestamps are RFC 3339 UTC. Every error is JSON `{"error": ...}`.',
            },
            "tags": [
                {"name": "tasks", "description": "Submit, find and replay tasks."},
                {"name": "schedules", "description": "Recurring tasks, by cron or interval."},
                {"name": "monitoring", "description": "Numbers, probes and metrics."},
            ],
            "security": [{"bearerAuth": []}],
            "paths": {**PATHS, **openapi_time.PATHS, **openapi_control.PATHS},
            "components": {
                "schemas": {**SCHEMAS, **openapi_control.SCHEMAS},
                "responses": RESPONSES,
                "parameters": PARAMETERS,
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "Required on everything but the probes when TASKQ_API_TOKEN "
                        "is set.",
                    }
                },
            },
        }
    )

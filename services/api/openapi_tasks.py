"""The OpenAPI parts of the task endpoints: the Task schemas, /tasks, /tasks/retry,
/tasks/{task_id} and its retry (services.api.openapi merges them into the one document)."""

from __future__ import annotations

from services.api import openapi_time
from services.api.openapi_parts import (
    ACTION_FILTER,
    RETRY_AFTER,
    TASK_ID,
    TIMESTAMP,
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
}

LOCATION = {"Location": header("The task's URL.")}

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
}

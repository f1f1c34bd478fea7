"""The OpenAPI document's parts about time: the task's timing fields, DELETE /tasks/{id}, and
the /schedules endpoints."""

from __future__ import annotations

from services.api.openapi_parts import (
    TIMESTAMP,
    Schema,
    closed,
    complete,
    error,
    json_body,
    json_request,
    nullable,
    operation,
    ref,
    use,
)
from services.api.recurrence import MAX_EVERY_S
from services.api.recurrence import NAME as NAME_PATTERN
from services.api.timing import MAX_DELAY_S, MIN_SECONDS
from services.api.validation import MAX_ACTION_LENGTH

SECONDS = {"type": "number", "minimum": MIN_SECONDS}
NAME = {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$"}

# Added to the Task schema (all three always present).
TASK_FIELDS: dict[str, Schema] = {
    "run_at": nullable({**TIMESTAMP, "description": "When a delayed task is due."}),
    "timeout_s": nullable({**SECONDS, "description": "The time limit it was submitted with."}),
    "schedule": nullable({"type": "string", "description": "The schedule that created it."}),
}

# Added to the NewTask schema (and so to each item of a batch). Null means absent, as the API
# reads it.
SUBMISSION_FIELDS: dict[str, Schema] = {
    "delay_s": nullable(
        {
            **SECONDS,
            "maximum": MAX_DELAY_S,
            "description": "Run this many seconds from now (status `scheduled` until then). "
            "Not with run_at (422).",
        }
    ),
    "run_at": nullable(
        {
            **TIMESTAMP,
            "description": "Run at this time; in the past means now; at most 30 days ahead (422).",
        }
    ),
    "timeout_s": nullable(
        {
            **SECONDS,
            "description": "Time limit of each attempt (default: the action's, else "
            "TASKQ_TASK_TIMEOUT_S); over TASKQ_CONSUMER_TIMEOUT_S is a 422.",
        }
    ),
}

WHEN = {
    "cron": nullable({"type": "string", "description": "A cron expression (5 or 6 fields)."}),
    "timezone": nullable({"type": "string", "description": "IANA zone of cron; default UTC."}),
    "every_s": nullable({"type": "number", "minimum": 1, "maximum": MAX_EVERY_S}),
}

SCHEMAS: dict[str, Schema] = {
    "Schedule": complete(
        name={"type": "string"},
        action={"type": "string"},
        data={"type": "object"},
        **WHEN,
        timeout_s=nullable(SECONDS),
        enabled={"type": "boolean"},
        next_run_at=nullable({**TIMESTAMP, "description": "Null while paused."}),
        last_run_at=nullable(TIMESTAMP),
        last_task_id=nullable({"type": "string", "format": "uuid"}),
        created_at=TIMESTAMP,
        updated_at=TIMESTAMP,
    ),
    "NewSchedule": closed(
        ["name", "action"],
        name=NAME,
        action={"type": "string", "minLength": 1, "maxLength": MAX_ACTION_LENGTH, "pattern": r"\S"},
        data={"type": ["object", "null"], "description": "The tasks' data; null means `{}`."},
        **WHEN,
        timeout_s=nullable(SECONDS),
        enabled={"type": "boolean"},
    ),
    "SchedulePatch": {
        # Every field optional: OpenAPI 3.0 readers refuse an empty `required`.
        "type": "object",
        "properties": {
            "data": {"type": ["object", "null"]},
            **WHEN,
            "timeout_s": nullable(SECONDS),
            "enabled": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "ScheduleList": complete(
        schedules={"type": "array", "items": ref("Schedule")},
        count={"type": "integer", "minimum": 0},
    ),
}

NAME_PARAMETER = {"name": "name", "in": "path", "required": True, "schema": NAME}
SCHEDULE_NOT_FOUND = error("No schedule has this name.")
NOT_SCHEDULE = error("Exactly one of cron and every_s; a bad cron expression or time zone.")

DELETE_TASK = operation(
    "deleteTask",
    "tasks",
    "Delete a completed or failed task, with its dead letters",
    s204={"description": "Deleted."},
    s404=use("NotFound"),
    s409=error("The task is not final yet."),
)

PATHS: dict[str, Schema] = {
    "/schedules": {
        "post": operation(
            "createSchedule",
            "schedules",
            "Create a recurring schedule",
            description="Each firing creates an ordinary task with the Idempotency-Key "
            "`schedule:<name>:<fire time>`. After downtime a schedule fires once for all the "
            "times it missed.",
            body=json_request("NewSchedule"),
            s201=json_body(ref("Schedule"), "Created, with its next_run_at."),
            s409=error("A schedule with this name exists."),
            s422=NOT_SCHEDULE,
        ),
        "get": operation(
            "listSchedules",
            "schedules",
            "Every schedule, by name",
            bad_request=False,
            s200=json_body(ref("ScheduleList"), "The schedules."),
        ),
    },
    "/schedules/{name}": {
        "parameters": [NAME_PARAMETER],
        "get": operation(
            "getSchedule",
            "schedules",
            "One schedule, with its next run and last task",
            s200=json_body(ref("Schedule"), "The schedule."),
            s404=SCHEDULE_NOT_FOUND,
        ),
        "patch": operation(
            "patchSchedule",
            "schedules",
            "Change the expression, data, time limit or enabled",
            body=json_request("SchedulePatch"),
            s200=json_body(ref("Schedule"), "The changed schedule."),
            s404=SCHEDULE_NOT_FOUND,
            s422=NOT_SCHEDULE,
        ),
        "delete": operation(
            "deleteSchedule",
            "schedules",
            "Delete a schedule (its tasks stay)",
            s204={"description": "Deleted."},
            s404=SCHEDULE_NOT_FOUND,
        ),
    },
}

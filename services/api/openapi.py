"""The API's OpenAPI 3.1 document, built from the same limits and statuses the code enforces.

It merges the parts (openapi_tasks, openapi_time, openapi_control) and holds what they share (the
Error schema, the common responses, the TaskId parameter) and the monitoring endpoints.
tests/api/test_openapi.py keeps it in step with the route table, and the schemathesis test
checks every live response against it.
"""

from __future__ import annotations

import copy

from services.api import openapi_control, openapi_tasks, openapi_time
from services.api.openapi_parts import (
    RETRY_AFTER,
    TIMESTAMP,
    UUID_PATTERN,
    Schema,
    closed,
    complete,
    error,
    header,
    json_body,
    operation,
    ref,
)
from shared.names import Status

SCHEMAS: dict[str, Schema] = {
    **openapi_tasks.SCHEMAS,
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

PATHS: dict[str, Schema] = {
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
            "paths": {
                **openapi_tasks.PATHS,
                **PATHS,
                **openapi_time.PATHS,
                **openapi_control.PATHS,
            },
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

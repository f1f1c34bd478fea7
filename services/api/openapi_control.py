"""The OpenAPI parts of the control endpoints: cancel, batch submission (services.api.openapi
merges them into the one document)."""

from __future__ import annotations

from services.api.batch import MAX_BATCH
from services.api.cancels import BULK_STATUSES
from services.api.openapi_parts import (
    ACTION_FILTER,
    TASK_ID,
    Schema,
    closed,
    complete,
    error,
    header,
    idempotency_key,
    json_body,
    json_request,
    operation,
    query,
    ref,
    use,
)

SCHEMAS: dict[str, Schema] = {
    "Cancelled": closed(
        ["id", "status"],
        id={"type": "string", "format": "uuid"},
        status={"type": "string", "enum": ["cancelled", "running"]},
        cancel_requested={
            "type": "boolean",
            "description": "The task runs: its consumer was told to stop it (it ends "
            "`cancelled` within about 2 s for an action that awaits).",
        },
    ),
    "CancelledMany": complete(
        count={"type": "integer", "minimum": 0, "description": "cancelled + cancel_requested"},
        cancelled={"type": "integer", "minimum": 0, "description": "Ended at once."},
        cancel_requested={
            "type": "integer",
            "minimum": 0,
            "description": "Running: their consumers were told to stop them.",
        },
        more={"type": "boolean", "description": "More matching tasks are left: call again."},
    ),
    "NewBatch": complete(
        tasks={
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": ref("NewTask"),
        },
    ),
    "AcceptedBatch": complete(
        ids={"type": "array", "items": {"type": "string", "format": "uuid"}},
        count={"type": "integer", "minimum": 1},
    ),
}

RETRY_AFTER = {"Retry-After": header("Seconds to wait.")}

PATHS: dict[str, Schema] = {
    "/tasks/batch": {
        "post": operation(
            "createTasks",
            "tasks",
            "Submit up to 1,000 tasks at once, all or nothing",
            description="Stores every task in one transaction, publishes them with pipelined "
            "confirms and answers 202 only once the broker confirmed every one. An invalid item "
            "(`index` names it) or a broker failure leaves nothing queued. An Idempotency-Key "
            "applies to the whole batch.",
            parameters=[idempotency_key("The same key and body give the same tasks.")],
            body=json_request(
                "NewBatch",
                example={
                    "tasks": [
                        {"action": "sum", "data": {"numbers": [1, 2]}},
                        {"action": "uppercase", "data": {"text": "hi"}, "priority": "high"},
                    ]
                },
            ),
            s202=json_body(ref("AcceptedBatch"), "Every task is queued."),
            s400=error("The batch or an item (`index`) is malformed; nothing was stored."),
            s409=error(
                "An earlier request with this Idempotency-Key is still being published.",
                RETRY_AFTER,
            ),
            s413=error("The body is too large."),
            s422=error(
                "An item's action refuses its data (`index`, `field`), or the "
                "Idempotency-Key was used with another body; nothing was stored."
            ),
            s503=use("NotQueued"),
        ),
    },
    "/tasks/cancel": {
        "post": operation(
            "cancelTasks",
            "tasks",
            "Cancel many tasks",
            description="Cancels up to 10 000 matching tasks, oldest first: queued and "
            "retrying ones at once, running ones by telling their consumers.",
            parameters=[
                query(
                    "status",
                    {"type": "string", "enum": [*sorted(BULK_STATUSES), ""]},
                    "Only tasks in this status (empty: all four).",
                ),
                query("action", ACTION_FILTER, "Only tasks of this action."),
            ],
            s200=json_body(ref("CancelledMany"), "How many were cancelled."),
        ),
    },
    "/tasks/{task_id}/cancel": {
        "parameters": TASK_ID,
        "post": operation(
            "cancelTask",
            "tasks",
            "Cancel a task",
            description="A scheduled, queued or retrying task is cancelled at once (200); a "
            "running one is stopped by its consumer (202).",
            s200=json_body(ref("Cancelled"), "The task is cancelled."),
            s202=json_body(ref("Cancelled"), "The task runs; its consumer was told to stop."),
            s404=use("NotFound"),
            s409=error("The task is final already."),
        ),
    },
}

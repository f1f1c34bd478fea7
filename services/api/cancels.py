"""Cancelling tasks: one by id, or many by status and action.

A scheduled, queued or retrying task ends `cancelled` in the database at once: a delayed one is
never dispatched, and the message of another, whenever it is delivered, finds a task no claim
may take and is acked without running. A running task is marked `cancel_requested` (so no later
claim runs it again) and every consumer process hears, on the control exchange, that whoever
runs it must stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from services.api import queries, transitions
from services.api.keys import metrics_key, publisher_key, reader_key, writer_key
from services.api.responses import json_response
from services.api.validation import action_filter, parse_task_id
from shared.clock import now_ms
from shared.control import encode_cancel
from shared.errors import ConflictError, NotFoundError, PublishError, ValidationError
from shared.names import CANCELLABLE_STATUSES, Status

logger = logging.getLogger(__name__)

BULK_CANCEL_LIMIT = 10_000
# How often the cancel requests of tasks still running are broadcast again: a consumer that
# was reconnecting when the first one went out hears the next.
RESEND_S = 5.0
# What a bulk cancel may select: what can be cancelled, and running tasks.
BULK_STATUSES = frozenset({*CANCELLABLE_STATUSES, Status.RUNNING})


async def cancel(app: web.Application, task_ids: list[str]) -> dict[str, str | None]:
    """Cancel these tasks (see transitions.cancel) and tell the consumers about the running
    ones. A lost broadcast is not fatal: the mark in the database still stops a redelivery."""
    outcome = await app[writer_key].run(transitions.cancel(task_ids, now_ms()))
    running = [i for i, done in outcome.items() if done == transitions.REQUESTED]
    if running:
        try:
            await app[publisher_key].broadcast(encode_cancel(running))
        except PublishError as exc:
            logger.warning("could not tell the consumers to cancel %d tasks: %s", len(running), exc)
    cancelled = sum(1 for done in outcome.values() if done == transitions.ENDED)
    app[metrics_key].cancelled.labels("now").inc(cancelled)
    app[metrics_key].cancelled.labels("requested").inc(len(running))
    return outcome


async def cancel_task(request: web.Request) -> web.Response:
    """POST /tasks/{id}/cancel."""
    task_id = parse_task_id(request.match_info["task_id"])
    done = (await cancel(request.app, [task_id]))[task_id]
    if done == transitions.ENDED:
        return json_response({"id": task_id, "status": Status.CANCELLED.value})
    if done == transitions.REQUESTED:
        body = {"id": task_id, "status": Status.RUNNING.value, "cancel_requested": True}
        return json_response(body, 202)
    if done is None:
        raise NotFoundError("task not found")
    raise ConflictError(f"the task is {done} already; only unfinished tasks can be cancelled")


def parse_cancel_query(query: Mapping[str, str]) -> tuple[list[Status], str | None]:
    """POST /tasks/cancel takes status (scheduled, queued, retrying or running; all four by
    default) and action."""
    unknown = sorted(set(query) - {"status", "action"})
    if unknown:
        raise ValidationError(f"unknown query parameter: {unknown[0]}", unknown[0])
    allowed = sorted(BULK_STATUSES)
    raw = query.get("status") or None
    if raw is not None and raw not in allowed:
        raise ValidationError(f"status must be one of {', '.join(allowed)}", "status")
    action = action_filter(query)
    return ([Status(raw)] if raw is not None else [Status(s) for s in allowed]), action


async def cancel_many(request: web.Request) -> web.Response:
    """POST /tasks/cancel?status=...&action=...: cancel every matching task (up to 10,000)."""
    statuses, action = parse_cancel_query(request.query)
    app = request.app
    ids = await queries.ids_by_status(app[reader_key], statuses, action, BULK_CANCEL_LIMIT + 1)
    outcome = await cancel(app, ids[:BULK_CANCEL_LIMIT])
    cancelled = sum(1 for done in outcome.values() if done == transitions.ENDED)
    requested = sum(1 for done in outcome.values() if done == transitions.REQUESTED)
    return json_response(
        {
            "count": cancelled + requested,
            "cancelled": cancelled,
            "cancel_requested": requested,
            "more": len(ids) > BULK_CANCEL_LIMIT,
        }
    )


async def resend_forever(app: web.Application) -> None:
    """Broadcast again, every RESEND_S, the requests of running tasks not yet stopped."""
    while True:
        await asyncio.sleep(RESEND_S)
        try:
            ids = await queries.cancel_requested_ids(app[reader_key], BULK_CANCEL_LIMIT)
            if ids:
                await app[publisher_key].broadcast(encode_cancel(ids))
        except Exception as exc:  # the broker or the database is away: next round
            logger.warning("could not send the cancel requests again: %s", exc)


async def cancels_ctx(app: web.Application) -> AsyncIterator[None]:
    """The resend loop, for the application's lifetime."""
    resender = asyncio.create_task(resend_forever(app), name="taskq-cancel-resend")
    yield
    resender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await resender

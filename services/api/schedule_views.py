"""Handlers of the /schedules endpoints."""

from __future__ import annotations

from aiohttp import web

from services.api import schedule_store
from services.api.keys import reader_key, scheduler_key, settings_key, writer_key
from services.api.recurrence import name_ok, parse_create, parse_patch
from services.api.responses import json_response, require_json
from shared.clock import now_ms
from shared.errors import NotFoundError, ValidationError


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not name_ok(name):
        raise ValidationError("name must be 1-100 letters, digits, '.', '_' or '-'", "name")
    return name


def _not_found() -> NotFoundError:
    return NotFoundError("schedule not found")


async def create_schedule(request: web.Request) -> web.Response:
    """POST /schedules: 201 with the schedule and its next_run_at; 409 if the name exists."""
    require_json(request)
    app = request.app
    spec = parse_create(await request.read(), app[settings_key].consumer_timeout_s)
    now = now_ms()
    row = await app[writer_key].run(schedule_store.create(spec, spec.next_after(now), now))
    app[scheduler_key].wake()
    return json_response(
        schedule_store.schedule_json(row), 201, {"Location": f"/schedules/{spec.name}"}
    )


async def list_schedules(request: web.Request) -> web.Response:
    """GET /schedules: every schedule, by name."""
    rows = await schedule_store.all_schedules(request.app[reader_key])
    shown = [schedule_store.schedule_json(r) for r in rows]
    return json_response({"schedules": shown, "count": len(shown)})


async def get_schedule(request: web.Request) -> web.Response:
    """GET /schedules/{name}."""
    row = await schedule_store.get(request.app[reader_key], _name(request))
    if row is None:
        raise _not_found()
    return json_response(schedule_store.schedule_json(row))


async def patch_schedule(request: web.Request) -> web.Response:
    """PATCH /schedules/{name}: change the expression, data, time limit or `enabled`."""
    require_json(request)
    app = request.app
    name = _name(request)
    row = await schedule_store.get(app[reader_key], name)
    if row is None:
        raise _not_found()
    current = schedule_store.recurrence(row)
    spec = parse_patch(await request.read(), current, app[settings_key].consumer_timeout_s)
    now = now_ms()
    # A new expression, or a schedule switched back on, counts from now: no firing for the
    # times it was paused.
    same_when = (spec.cron, spec.timezone, spec.every_s) == (
        current.cron,
        current.timezone,
        current.every_s,
    )
    next_run = int(row[8]) if same_when and current.enabled else spec.next_after(now)
    updated = await app[writer_key].run(schedule_store.update(spec, next_run, now))
    if updated is None:
        raise _not_found()
    app[scheduler_key].wake()
    return json_response(schedule_store.schedule_json(updated))


async def delete_schedule(request: web.Request) -> web.Response:
    """DELETE /schedules/{name}: the schedule goes; tasks it created stay."""
    if not await request.app[writer_key].run(schedule_store.delete(_name(request))):
        raise _not_found()
    return web.Response(status=204)

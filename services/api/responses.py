"""JSON responses, serialised with orjson."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(
    message: str, status: int, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    return json_response({"error": message, **extra}, status, headers)


def require_json(request: web.Request) -> None:
    """A body that is not declared JSON is a 415."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="Content-Type must be application/json")

"""Request middlewares: metrics, JSON errors at the edge, bearer-token access control."""

from __future__ import annotations

import hmac
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from services.api.keys import metrics_key, settings_key
from services.api.responses import error_response
from shared.errors import (
    ConflictError,
    NotFoundError,
    QueueingError,
    UnprocessableError,
    ValidationError,
)

logger = logging.getLogger(__name__)

# Probes must answer without credentials; the dashboard and docs shells carry no data and
# need to load before the browser can ask for a token. Everything with data needs the token.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/", "/docs", "/openapi.json", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/", "/docs/")


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[metrics_key]
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.requests.labels(name, request.method, str(status)).inc()
        metrics.latency.labels(name).observe(time.perf_counter() - started)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as JSON `{"error": ...}`; bad input is a 4xx, never a 500."""
    try:
        return await handler(request)
    except ValidationError as exc:
        # `field` names the input at fault, so a client can point at it
        status = 422 if isinstance(exc, UnprocessableError) else 400
        if exc.field is None:
            return error_response(exc.message, status)
        return error_response(exc.message, status, field=exc.field)
    except NotFoundError as exc:
        return error_response(str(exc), 404)
    except ConflictError as exc:
        return error_response(str(exc), 409, headers=_retry_after(exc.retry_after_s))
    except QueueingError as exc:
        return error_response(str(exc), 503, headers=_retry_after(exc.retry_after_s))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_reason(exc), exc.status, headers=_kept_headers(exc))
    except Exception:  # the edge: log it, answer 500 as JSON, keep serving
        logger.exception("unhandled error", extra={"path": request.path})
        return error_response("internal error", 500)


def _retry_after(seconds: int | None) -> dict[str, str] | None:
    return None if seconds is None else {"Retry-After": str(seconds)}


def _reason(exc: web.HTTPException) -> str:
    if exc.status == 404:
        return "not found"
    if exc.status == 405:
        return "method not allowed"
    if exc.status == 413:
        return "request body too large"
    return exc.reason.lower()


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in {"Allow", "WWW-Authenticate"}}


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[settings_key].api_token
    if token is None or request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return error_response(
            "missing or invalid bearer token", 401, headers={"WWW-Authenticate": "Bearer"}
        )
    return await handler(request)

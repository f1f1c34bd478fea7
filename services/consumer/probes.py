"""The consumer's small HTTP server: /healthz, /readyz and /metrics for orchestrators and
Prometheus."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.consumer.metrics import ConsumerMetrics

ReadyCheck = Callable[[], dict[str, bool]]
ready_check_key: web.AppKey[ReadyCheck] = web.AppKey("ready_check")
consumer_metrics_key = web.AppKey("consumer_metrics", ConsumerMetrics)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[ready_check_key]()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", **checks}, status=200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[consumer_metrics_key].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_probe_app(ready_check: ReadyCheck, consumer_metrics: ConsumerMetrics) -> web.Application:
    app = web.Application()
    app[ready_check_key] = ready_check
    app[consumer_metrics_key] = consumer_metrics
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app

"""The URL map."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api import batch, cancels, schedule_views, views
from services.api.docs import setup_docs
from services.api.keys import metrics_key


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[metrics_key].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/tasks", views.create_task)
    app.router.add_post("/tasks/batch", batch.create_tasks)
    app.router.add_get("/tasks", views.list_tasks)
    app.router.add_post("/tasks/retry", views.retry_many)
    app.router.add_post("/tasks/cancel", cancels.cancel_many)
    app.router.add_get("/tasks/{task_id}", views.get_task)
    app.router.add_delete("/tasks/{task_id}", views.delete_task)
    app.router.add_post("/tasks/{task_id}/retry", views.retry_task)
    app.router.add_post("/schedules", schedule_views.create_schedule)
    app.router.add_get("/schedules", schedule_views.list_schedules)
    app.router.add_get("/schedules/{name}", schedule_views.get_schedule)
    app.router.add_patch("/schedules/{name}", schedule_views.patch_schedule)
    app.router.add_delete("/schedules/{name}", schedule_views.delete_schedule)
    app.router.add_post("/tasks/{task_id}/cancel", cancels.cancel_task)
    app.router.add_get("/stats", views.stats)
    app.router.add_get("/healthz", views.healthz)
    app.router.add_get("/readyz", views.readyz)
    app.router.add_get("/metrics", metrics)
    setup_docs(app)

"""The API service: the application factory, its resources, and the process entry point."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web

from services.api.cancels import cancels_ctx
from services.api.dispatcher import Dispatcher
from services.api.keys import (
    dispatcher_key,
    metrics_key,
    outbox_key,
    publisher_key,
    reader_key,
    recorder_key,
    retention_key,
    scheduler_key,
    settings_key,
    writer_key,
)
from services.api.metrics import ApiMetrics
from services.api.middlewares import auth_middleware, error_middleware, metrics_middleware
from services.api.outbox import Outbox
from services.api.publisher import Publisher
from services.api.recorder import RecorderThread
from services.api.retention import Retention
from services.api.routes import setup_routes
from services.api.scheduler import Scheduler
from shared.config import Settings
from shared.db import BatchWriter, check_schema, open_reader
from shared.errors import TaskqError
from shared.logs import setup_logging

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
SWITCH_INTERVAL_S = 0.0005


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    await asyncio.to_thread(check_schema, settings.db_path)
    writer = BatchWriter(
        settings.db_path, synchronous=settings.db_synchronous, linger_ms=settings.commit_linger_ms
    )
    await writer.start()
    reader = await open_reader(settings.db_path)
    app[writer_key] = writer
    app[reader_key] = reader
    yield
    await reader.close()
    await writer.close()


async def broker_ctx(app: web.Application) -> AsyncIterator[None]:
    publisher = await Publisher.open(app[settings_key])
    app[publisher_key] = publisher
    yield
    await publisher.close()


async def recorder_ctx(app: web.Application) -> AsyncIterator[None]:
    recorder = RecorderThread(app[settings_key], app[writer_key], app[metrics_key])
    await recorder.start()
    app[recorder_key] = recorder
    yield
    # A report still being committed after this is not acked, so its consumer sends it again.
    await recorder.stop()


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    outbox = Outbox(
        app[writer_key], app[reader_key], app[publisher_key], app[settings_key], app[metrics_key]
    )
    outbox.start()
    app[outbox_key] = outbox
    yield
    await outbox.close()


async def time_ctx(app: web.Application) -> AsyncIterator[None]:
    """What runs on the clock: delayed tasks coming due, schedules firing, result retention."""
    parts = (app[writer_key], app[reader_key], app[outbox_key])
    dispatcher = Dispatcher(*parts, app[metrics_key])
    scheduler = Scheduler(*parts, app[metrics_key])
    retention = Retention(app[writer_key], app[settings_key].result_ttl_s, app[metrics_key])
    for part in (dispatcher, scheduler, retention):
        part.start()
    app[dispatcher_key] = dispatcher
    app[scheduler_key] = scheduler
    app[retention_key] = retention
    yield
    for part in (retention, scheduler, dispatcher):
        await part.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[metrics_middleware, error_middleware, auth_middleware],
    )
    app[settings_key] = settings
    app[metrics_key] = ApiMetrics()
    # Order matters: the recorder and the outbox need the database and the broker, and the
    # dispatcher needs the outbox.
    app.cleanup_ctx.extend(
        [database_ctx, broker_ctx, recorder_ctx, outbox_ctx, cancels_ctx, time_ctx]
    )
    setup_routes(app)
    return app


def main(environ: dict[str, str]) -> None:
    settings = Settings.from_env(environ)
    setup_logging("api", settings.log_level)
    # The recorder's and the writer's threads wait for the GIL while the HTTP loop is busy; a
    # short switch interval bounds each consumer round trip's wait at a fraction of a ms.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    logger.info("starting", extra={"host": settings.http_host, "port": settings.http_port})
    web.run_app(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        shutdown_timeout=settings.shutdown_grace_s,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


def run() -> None:
    """Console entry point: a configuration or start-up problem is one line and exit 1."""
    try:
        main(dict(os.environ))
    except TaskqError as exc:
        print(f"taskq-api: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run()

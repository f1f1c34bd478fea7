"""Typed keys of everything the API application holds."""

from __future__ import annotations

import aiosqlite
from aiohttp import web

from services.api.dispatcher import Dispatcher
from services.api.metrics import ApiMetrics
from services.api.outbox import Outbox
from services.api.publisher import Publisher
from services.api.recorder import RecorderThread
from services.api.retention import Retention
from services.api.scheduler import Scheduler
from shared.config import Settings
from shared.db import BatchWriter

settings_key = web.AppKey("settings", Settings)
metrics_key = web.AppKey("metrics", ApiMetrics)
writer_key = web.AppKey("writer", BatchWriter)
reader_key = web.AppKey("reader", aiosqlite.Connection)
publisher_key = web.AppKey("publisher", Publisher)
outbox_key = web.AppKey("outbox", Outbox)
recorder_key = web.AppKey("recorder", RecorderThread)
dispatcher_key = web.AppKey("dispatcher", Dispatcher)
retention_key = web.AppKey("retention", Retention)
scheduler_key = web.AppKey("scheduler", Scheduler)

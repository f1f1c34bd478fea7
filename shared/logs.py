"""Logging set up once per process: JSON lines (ts, level, service, msg, task_id) or, on a
terminal, a readable line."""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.orjson import OrjsonFormatter

from shared.clock import to_rfc3339

# Set while a task is handled, so every line logged on its behalf carries its id.
current_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "taskq_task_id", default=None
)


class _TaskIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "task_id", None) is None:
            task_id = current_task_id.get()
            if task_id is not None:
                record.task_id = task_id
        return True


class _JsonFormatter(OrjsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return to_rfc3339(int(record.created * 1000)) or ""


class _ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        task_id = getattr(record, "task_id", None)
        return f"{line} [task {task_id}]" if task_id else line


def setup_logging(service: str, level: str, *, json_lines: bool | None = None) -> None:
    """Route every logger to stderr; JSON unless stderr is a terminal (or as `json_lines` says)."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TaskIdFilter())
    formatter: logging.Formatter
    if json_lines:
        formatter = _JsonFormatter(
            "{asctime}{levelname}{message}",
            style="{",
            rename_fields={"asctime": "ts", "levelname": "level", "message": "msg"},
            static_fields={"service": service},
        )
    else:
        formatter = _ReadableFormatter(
            f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s"
        )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aio-pika logs every reconnect attempt, with a traceback; our services log the outage once.
    quiet = logging.DEBUG if level == "DEBUG" else logging.CRITICAL
    logging.getLogger("aio_pika").setLevel(quiet)
    logging.getLogger("aiormq").setLevel(quiet)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

"""Settings: every knob of every taskq process, read strictly from the environment."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.errors import ConfigError

T = TypeVar("T")


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {raw!r}")
    return value


def _port(name: str, raw: str) -> int:
    value = _non_negative_int(name, raw)
    if value > 65535:
        raise ConfigError(f"{name} must be a port number (0-65535), got {raw!r}")
    return value


def _float(name: str, raw: str, *, zero_ok: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
        kind = "non-negative" if zero_ok else "positive"
        raise ConfigError(f"{name} must be a {kind} number, got {raw!r}")
    return value


def _positive_float(name: str, raw: str) -> float:
    return _float(name, raw, zero_ok=False)


def _non_negative_float(name: str, raw: str) -> float:
    return _float(name, raw, zero_ok=True)


def _delays(name: str, raw: str) -> tuple[float, ...]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"{name} must be a comma-separated list of seconds, got {raw!r}")
    return tuple(_positive_float(name, p) for p in parts)


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise ConfigError(f"{name} must not be empty")
    return raw.strip()


def _amqp_urls(name: str, raw: str) -> str:
    urls = [part.strip() for part in raw.split(",") if part.strip()]
    if not urls:
        raise ConfigError(f"{name} must not be empty")
    for url in urls:
        if not url.startswith(("amqp://", "amqps://")):
            raise ConfigError(
                f"{name} must be one AMQP URL or a comma-separated list of them"
                f" (amqp://user:pass@host:5672/vhost), got {url!r}"
            )
    return ",".join(urls)


def _queue_name(name: str, raw: str) -> str:
    value = _text(name, raw)
    if len(value) > 200 or not all(c.isalnum() or c in "-_.:" for c in value):
        raise ConfigError(
            f"{name} must be 1-200 characters of letters, digits and -_.:, got {raw!r}"
        )
    return value


def _log_level(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(
            f"{name} must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {raw!r}"
        )
    return value


def _synchronous(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"FULL", "NORMAL"}:
        raise ConfigError(f"{name} must be FULL or NORMAL, got {raw!r}")
    return value


def _optional(name: str, raw: str) -> str | None:
    return raw or None


@dataclass(frozen=True, slots=True)
class Settings:
    """One process's configuration; build it with `Settings.from_env(os.environ)` in `main()`."""

    # One URL, or a comma-separated list of a cluster's nodes (see `amqp_urls`).
    amqp_url: str = "amqp://guest:guest@localhost:5672/"
    heartbeat_s: int = 3
    db_path: str = "./data/tasks.db"
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    queue: str = "tasks"
    channels: int = 2
    prefetch: int = 5
    high_prefetch: int = 5
    work_delay_ms: int = 100
    delivery_limit: int = 5
    startup_timeout_s: float = 60.0
    publish_timeout_s: float = 5.0
    max_attempts: int = 3
    retry_delays_s: tuple[float, ...] = (1.0, 5.0, 25.0)
    consumer_port: int = 8081
    shutdown_grace_s: float = 30.0
    api_token: str | None = None
    log_level: str = "INFO"
    orphan_age_s: float = 30.0
    idempotency_ttl_s: float = 86400.0
    commit_linger_ms: int = 0
    db_synchronous: str = "FULL"
    task_timeout_s: float = 300.0
    consumer_timeout_s: float = 1800.0
    result_ttl_s: float = 604800.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read every TASKQ_* variable; raise ConfigError naming the first bad one."""
        values: dict[str, Any] = {}
        for field, (var, cast) in _VARIABLES.items():
            raw = environ.get(var)
            if raw is not None:
                values[field] = cast(var, raw)
        return dataclasses.replace(cls(), **values)

    @property
    def amqp_urls(self) -> tuple[str, ...]:
        """The broker nodes to try, in order: the first that answers, then the next in turn."""
        return tuple(url.strip() for url in self.amqp_url.split(",") if url.strip())

    def retry_delay_s(self, attempt: int) -> float:
        """The wait before attempt `attempt + 1`, after `attempt` attempts failed."""
        return self.retry_delays_s[min(attempt, len(self.retry_delays_s)) - 1]


_VARIABLES: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "amqp_url": ("TASKQ_AMQP_URL", _amqp_urls),
    "heartbeat_s": ("TASKQ_HEARTBEAT_S", _positive_int),
    "db_path": ("TASKQ_DB_PATH", _text),
    "http_host": ("TASKQ_HTTP_HOST", _text),
    "http_port": ("TASKQ_HTTP_PORT", _port),
    "queue": ("TASKQ_QUEUE", _queue_name),
    "channels": ("TASKQ_CHANNELS", _positive_int),
    "prefetch": ("TASKQ_PREFETCH", _positive_int),
    "high_prefetch": ("TASKQ_HIGH_PREFETCH", _positive_int),
    "work_delay_ms": ("TASKQ_WORK_DELAY_MS", _non_negative_int),
    "delivery_limit": ("TASKQ_DELIVERY_LIMIT", _positive_int),
    "startup_timeout_s": ("TASKQ_STARTUP_TIMEOUT_S", _positive_float),
    "publish_timeout_s": ("TASKQ_PUBLISH_TIMEOUT_S", _positive_float),
    "max_attempts": ("TASKQ_MAX_ATTEMPTS", _positive_int),
    "retry_delays_s": ("TASKQ_RETRY_DELAYS_S", _delays),
    "consumer_port": ("TASKQ_CONSUMER_PORT", _port),
    "shutdown_grace_s": ("TASKQ_SHUTDOWN_GRACE_S", _positive_float),
    "api_token": ("TASKQ_API_TOKEN", _optional),
    "log_level": ("TASKQ_LOG_LEVEL", _log_level),
    "orphan_age_s": ("TASKQ_ORPHAN_AGE_S", _positive_float),
    "idempotency_ttl_s": ("TASKQ_IDEMPOTENCY_TTL_S", _positive_float),
    "commit_linger_ms": ("TASKQ_COMMIT_LINGER_MS", _non_negative_int),
    "db_synchronous": ("TASKQ_DB_SYNCHRONOUS", _synchronous),
    "task_timeout_s": ("TASKQ_TASK_TIMEOUT_S", _positive_float),
    "consumer_timeout_s": ("TASKQ_CONSUMER_TIMEOUT_S", _positive_float),
    "result_ttl_s": ("TASKQ_RESULT_TTL_S", _non_negative_float),
}

# Documented in the README's configuration table; a test keeps the two in step.
VARIABLES = {var: field for field, (var, _) in _VARIABLES.items()}

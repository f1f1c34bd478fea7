"""Settings: the documented defaults, strict casting, and one error naming the bad variable."""

from __future__ import annotations

import dataclasses

import pytest

from shared.config import VARIABLES, Settings
from shared.errors import ConfigError
from tests.support.processes import settings_env

DOCUMENTED_DEFAULTS = {
    "TASKQ_AMQP_URL": "amqp://guest:guest@localhost:5672/",
    "TASKQ_DB_PATH": "./data/tasks.db",
    "TASKQ_HTTP_HOST": "0.0.0.0",
    "TASKQ_HTTP_PORT": 8080,
    "TASKQ_QUEUE": "tasks",
    "TASKQ_CHANNELS": 2,
    "TASKQ_PREFETCH": 5,
    "TASKQ_HIGH_PREFETCH": 5,
    "TASKQ_WORK_DELAY_MS": 100,
    "TASKQ_DELIVERY_LIMIT": 5,
    "TASKQ_STARTUP_TIMEOUT_S": 60,
    "TASKQ_PUBLISH_TIMEOUT_S": 5,
    "TASKQ_MAX_ATTEMPTS": 3,
    "TASKQ_RETRY_DELAYS_S": (1, 5, 25),
    "TASKQ_CONSUMER_PORT": 8081,
    "TASKQ_SHUTDOWN_GRACE_S": 30,
    "TASKQ_HEARTBEAT_S": 3,
}

# One unusable value per variable, and the start of the message it must produce.
BAD_VALUES = {
    "TASKQ_AMQP_URL": ("  ", "must not be empty"),
    "TASKQ_DB_PATH": ("", "must not be empty"),
    "TASKQ_HTTP_HOST": (" ", "must not be empty"),
    "TASKQ_HTTP_PORT": ("65536", "must be a port number"),
    "TASKQ_QUEUE": ("tasks/with slash", "must be 1-200 characters"),
    "TASKQ_CHANNELS": ("0", "must be a positive integer"),
    "TASKQ_PREFETCH": ("x", "must be a positive integer"),
    "TASKQ_HIGH_PREFETCH": ("0", "must be a positive integer"),
    "TASKQ_WORK_DELAY_MS": ("-1", "must be a non-negative integer"),
    "TASKQ_DELIVERY_LIMIT": ("2.5", "must be a positive integer"),
    "TASKQ_STARTUP_TIMEOUT_S": ("0", "must be a positive number"),
    "TASKQ_PUBLISH_TIMEOUT_S": ("inf", "must be a positive number"),
    "TASKQ_MAX_ATTEMPTS": ("", "must be a positive integer"),
    "TASKQ_RETRY_DELAYS_S": ("1,x,25", "must be a positive number"),
    "TASKQ_CONSUMER_PORT": ("http", "must be a non-negative integer"),
    "TASKQ_SHUTDOWN_GRACE_S": ("-5", "must be a positive number"),
    "TASKQ_LOG_LEVEL": ("loud", "must be one of DEBUG"),
    "TASKQ_ORPHAN_AGE_S": ("nan", "must be a positive number"),
    "TASKQ_IDEMPOTENCY_TTL_S": ("soon", "must be a positive number"),
    "TASKQ_COMMIT_LINGER_MS": ("1e3", "must be a non-negative integer"),
    "TASKQ_DB_SYNCHRONOUS": ("OFF", "must be FULL or NORMAL"),
    "TASKQ_HEARTBEAT_S": ("0", "must be a positive integer"),
    "TASKQ_TASK_TIMEOUT_S": ("0", "must be a positive number"),
    "TASKQ_CONSUMER_TIMEOUT_S": ("-1", "must be a positive number"),
    "TASKQ_RESULT_TTL_S": ("-1", "must be a non-negative number"),
}
# Any string is a usable token; unset means no authentication.
ANY_VALUE_ACCEPTED = {"TASKQ_API_TOKEN"}


@pytest.mark.parametrize(("var", "expected"), DOCUMENTED_DEFAULTS.items())
def test_documented_defaults(var: str, expected: object) -> None:
    settings = Settings.from_env({})
    assert getattr(settings, VARIABLES[var]) == expected
    assert getattr(Settings(), VARIABLES[var]) == expected


def test_unset_token_and_other_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.api_token is None
    assert settings.log_level == "INFO"


def test_every_settings_field_has_a_variable() -> None:
    assert sorted(VARIABLES.values()) == sorted(f.name for f in dataclasses.fields(Settings))
    assert all(var.startswith("TASKQ_") for var in VARIABLES)


def test_bad_values_cover_every_variable() -> None:
    assert set(BAD_VALUES) | ANY_VALUE_ACCEPTED == set(VARIABLES)


@pytest.mark.parametrize(("var", "bad"), BAD_VALUES.items())
def test_bad_value_names_the_variable(var: str, bad: tuple[str, str]) -> None:
    raw, message = bad
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({var: raw})
    assert str(caught.value).startswith(f"{var} {message}")


def test_bad_value_message_quotes_the_value() -> None:
    with pytest.raises(ConfigError, match=r"^TASKQ_PREFETCH must be a positive integer, got 'x'$"):
        Settings.from_env({"TASKQ_PREFETCH": "x"})


def test_values_are_cast() -> None:
    settings = Settings.from_env(
        {
            "TASKQ_HTTP_PORT": "9000",
            "TASKQ_PREFETCH": "50",
            "TASKQ_WORK_DELAY_MS": "0",
            "TASKQ_STARTUP_TIMEOUT_S": "2.5",
            "TASKQ_RETRY_DELAYS_S": " 0.5, 2 ,10 ",
            "TASKQ_QUEUE": " jobs.v2 ",
            "TASKQ_API_TOKEN": "s3cret",
            "TASKQ_LOG_LEVEL": "debug",
            "TASKQ_DB_SYNCHRONOUS": "normal",
        }
    )
    assert settings.http_port == 9000
    assert settings.prefetch == 50
    assert settings.work_delay_ms == 0
    assert settings.startup_timeout_s == 2.5
    assert settings.retry_delays_s == (0.5, 2.0, 10.0)
    assert settings.queue == "jobs.v2"
    assert settings.api_token == "s3cret"
    assert settings.log_level == "DEBUG"
    assert settings.db_synchronous == "NORMAL"


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/bin", "TASKQ": "x"}) == Settings()


def test_settings_survive_a_trip_through_the_environment() -> None:
    """What the test harness hands a subprocess is exactly what the service rebuilds."""
    custom = Settings(
        amqp_url="amqp://u:p@h:1/v",
        queue="q1",
        prefetch=7,
        retry_delays_s=(0.2, 0.4),
        startup_timeout_s=1.5,
        api_token="t",
        db_synchronous="NORMAL",
    )
    assert Settings.from_env(settings_env(custom)) == custom


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().prefetch = 1  # type: ignore[misc]


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 5.0), (3, 25.0), (7, 25.0)])
def test_retry_delay_repeats_the_last(attempt: int, delay: float) -> None:
    assert Settings().retry_delay_s(attempt) == delay


def test_a_cluster_is_a_comma_separated_list_of_urls() -> None:
    settings = Settings.from_env(
        {"TASKQ_AMQP_URL": "amqp://u:p@h1:5672/, amqp://u:p@h2:5672/,,amqp://u:p@h3:5672/"}
    )
    assert settings.amqp_urls == (
        "amqp://u:p@h1:5672/",
        "amqp://u:p@h2:5672/",
        "amqp://u:p@h3:5672/",
    )
    assert Settings().amqp_urls == ("amqp://guest:guest@localhost:5672/",)


@pytest.mark.parametrize("raw", ["localhost:5672", "amqp://h1/,http://h2/"])
def test_every_url_of_the_list_must_be_amqp(raw: str) -> None:
    with pytest.raises(
        ConfigError, match="TASKQ_AMQP_URL must be one AMQP URL or a comma-separated"
    ):
        Settings.from_env({"TASKQ_AMQP_URL": raw})

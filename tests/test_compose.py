"""compose.yaml and the Dockerfile keep the start-up order, the shared database volume and the
health checks that `make up` relies on. Static checks: no Docker engine needed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrator", "api", "consumer")
DB_PATH = "/data/tasks.db"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]  # type: ignore[no-any-return]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}; the short list form means service_started."""
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_has_exactly_the_four_services(services: dict[str, Any]) -> None:
    assert set(services) == {"rabbitmq", *APP_SERVICES}


def test_rabbitmq_has_management_ui_ports_and_ping_healthcheck(services: dict[str, Any]) -> None:
    rabbit = services["rabbitmq"]
    assert rabbit["image"].startswith("rabbitmq:3.13-management")
    published = {str(port).rsplit(":", 1)[-1] for port in rabbit["ports"]}
    assert {"5672", "15672"} <= published
    assert "rabbitmq-diagnostics -q ping" in healthcheck_command(rabbit)


def test_rabbitmq_credentials_are_overridable_dev_defaults(services: dict[str, Any]) -> None:
    env = environment(services["rabbitmq"])
    assert env["RABBITMQ_DEFAULT_USER"] == "${RABBITMQ_DEFAULT_USER:-guest}"
    assert env["RABBITMQ_DEFAULT_PASS"] == "${RABBITMQ_DEFAULT_PASS:-guest}"


def test_no_credentials_outside_variable_defaults() -> None:
    text = (ROOT / "compose.yaml").read_text()
    without_defaults = re.sub(r"\$\{[A-Z0-9_]+:-[^}]*\}", "", text)
    without_comments = "\n".join(line.split("#", 1)[0] for line in without_defaults.splitlines())
    assert "guest" not in without_comments
    assert not re.search(r"(?im)(password|passwd|token)[ \t]*:[ \t]*\S", without_comments)


def test_migrator_is_one_shot_after_a_healthy_broker(services: dict[str, Any]) -> None:
    migrator = services["migrator"]
    assert depends_on(migrator) == {"rabbitmq": "service_healthy"}
    # unquoted `no` would be YAML's boolean false, which compose rejects
    assert migrator["restart"] == "no"
    assert "taskq-migrate" in " ".join(migrator["command"])


@pytest.mark.parametrize("name", ["api", "consumer"])
def test_long_running_services_start_after_the_migrator_succeeds(
    services: dict[str, Any], name: str
) -> None:
    assert depends_on(services[name])["migrator"] == "service_completed_successfully"
    assert f"taskq-{name}" in " ".join(services[name]["command"])


@pytest.mark.parametrize(("name", "port"), [("api", 8080), ("consumer", 8081)])
def test_healthcheck_probes_readyz_with_python(
    services: dict[str, Any], name: str, port: int
) -> None:
    command = healthcheck_command(services[name])
    assert command.startswith("CMD python -c")  # the slim image has no curl
    assert f"http://127.0.0.1:{port}/readyz" in command
    assert "urllib.request" in command


@pytest.mark.parametrize("name", ["api", "consumer"])
def test_stop_grace_outlasts_the_shutdown_grace(services: dict[str, Any], name: str) -> None:
    # Docker's default is 10 s; TASKQ_SHUTDOWN_GRACE_S (30 s) of draining must not be cut short
    match = re.fullmatch(r"(\d+)s", str(services[name].get("stop_grace_period", "10s")))
    assert match and int(match[1]) > 30


def test_api_publishes_8080(services: dict[str, Any]) -> None:
    ports = [str(port) for port in services["api"]["ports"]]
    assert any(port.endswith(":8080") for port in ports), ports


def test_one_named_volume_holds_the_database_for_its_owner_and_the_migrator(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    volumes = compose.get("volumes") or {}
    assert len(volumes) == 1, volumes
    (volume,) = volumes
    for name in ("api", "migrator"):
        service = services[name]
        mounts = [str(mount).split(":") for mount in service.get("volumes", [])]
        targets = {target for source, target, *_ in mounts if source == volume}
        assert targets == {"/data"}, (name, mounts)
        assert environment(service)["TASKQ_DB_PATH"] == DB_PATH
    # consumers talk only to RabbitMQ: no volume, no database setting, any machine
    assert "volumes" not in services["consumer"]
    assert not any(var.startswith("TASKQ_DB") for var in environment(services["consumer"]))
    assert "volumes" not in services["rabbitmq"] or all(
        not str(mount).startswith(f"{volume}:") for mount in services["rabbitmq"]["volumes"]
    )


def test_app_services_share_one_image_built_from_the_dockerfile(services: dict[str, Any]) -> None:
    builds = {str(services[name].get("build")) for name in APP_SERVICES}
    images = {services[name].get("image") for name in APP_SERVICES}
    assert builds == {"."}
    assert len(images) == 1


def test_api_token_passes_through_from_the_environment(services: dict[str, Any]) -> None:
    for name in ("api", "consumer", "migrator"):
        assert environment(services[name])["TASKQ_API_TOKEN"] == "${TASKQ_API_TOKEN:-}"


def test_broker_url_points_at_the_rabbitmq_service(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        url = environment(services[name])["TASKQ_AMQP_URL"]
        assert url.startswith("amqp://") and "@rabbitmq:5672/" in url, url


def test_dockerfile_installs_the_project_on_python_311_slim() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [line.strip() for line in dockerfile.splitlines() if not line.startswith("#")]
    assert any(line == "FROM python:3.11-slim" for line in instructions)
    assert re.search(r"^RUN pip install (--no-cache-dir )?\.$", dockerfile, re.MULTILINE)
    for needed in ("pyproject.toml", "services", "shared"):
        assert re.search(rf"^COPY .*\b{needed}\b", dockerfile, re.MULTILINE), needed


def test_dockerignore_keeps_the_venv_and_data_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "data", ".git"} <= ignored

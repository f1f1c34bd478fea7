"""compose.yaml and the Dockerfile keep the start-up order, the shared database volume and the
health checks that `make up` relies on. Static checks: no Docker engine needed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrator", "api", "consumer")
DB_PATH = "/data/tasks.db"
CLUSTER_NODES = ("rabbitmq1", "rabbitmq2", "rabbitmq3")
CLUSTER_OVERRIDE = ROOT / "deploy" / "compose.cluster.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


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
    # plus the `cluster` profile's nodes, which start only with that profile
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {"rabbitmq", *APP_SERVICES}
    assert set(services) - default == set(CLUSTER_NODES)


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


def test_dockerfile_installs_the_locked_service_dependencies_on_python_311_slim() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [line.strip() for line in dockerfile.splitlines() if not line.startswith("#")]
    assert any(line == "FROM python:3.11-slim" for line in instructions)
    assert re.search(r"^RUN pip install --no-deps \.$", dockerfile, re.MULTILINE)
    # the services' locked dependencies only: no extra (CLI, supervisor) and no dev group
    assert "uv export --frozen --no-default-groups" in dockerfile
    assert "--all-extras" not in dockerfile and "--extra" not in dockerfile
    for needed in ("pyproject.toml", "uv.lock", "services", "shared"):
        assert re.search(rf"^COPY .*\b{needed}\b", dockerfile, re.MULTILINE), needed


def test_dockerignore_keeps_the_venv_and_data_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "data", ".git"} <= ignored


# -- the `cluster` profile and deploy/compose.cluster.yaml ----------------------------------------


@dataclass(frozen=True)
class Tagged:
    """A value Compose's merge tags mark (`!override`, `!reset`), as the override file writes it."""

    tag: str
    value: Any


class _ComposeLoader(yaml.SafeLoader):
    """yaml.safe_load that also reads Compose's merge tags."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    value: Any
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return Tagged(f"!{suffix}", value)


_ComposeLoader.add_multi_constructor("!", _tagged)


@pytest.fixture(scope="module")
def cluster_override() -> dict[str, Any]:
    loaded = yaml.load(CLUSTER_OVERRIDE.read_text(), Loader=_ComposeLoader)
    assert isinstance(loaded, dict)
    return loaded["services"]


def rabbitmq_conf(path: Path) -> dict[str, str]:
    """A rabbitmq.conf (sysctl format) as {key: value}."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.lstrip().startswith("#")}


def mounted_conf(service: dict[str, Any]) -> Path:
    """The host file a node mounts into the image's /etc/rabbitmq/conf.d/."""
    (source,) = [
        str(mount).split(":")[0]
        for mount in service.get("volumes", [])
        if str(mount).split(":")[1].startswith("/etc/rabbitmq/conf.d/")
    ]
    return (ROOT / source).resolve()


def test_cluster_profile_has_three_rabbitmq_nodes(services: dict[str, Any]) -> None:
    for name in CLUSTER_NODES:
        node = services[name]
        assert node["profiles"] == ["cluster"], name
        assert node["image"].startswith("rabbitmq:3.13-management"), name
        # the node is rabbit@<hostname>: peer discovery finds it by that name
        assert node["hostname"] == name
        assert healthcheck_command(node).startswith("CMD rabbitmq-diagnostics -q ")


def test_cluster_nodes_share_one_erlang_cookie_from_the_environment(
    services: dict[str, Any],
) -> None:
    cookies = {environment(services[name]).get("RABBITMQ_ERLANG_COOKIE") for name in CLUSTER_NODES}
    assert len(cookies) == 1, cookies
    (cookie,) = cookies
    assert cookie is not None
    assert re.fullmatch(r"\$\{RABBITMQ_ERLANG_COOKIE:-[^}]+\}", cookie), cookie


def test_cluster_peer_discovery_lists_all_three_nodes(services: dict[str, Any]) -> None:
    confs = {mounted_conf(services[name]) for name in CLUSTER_NODES}
    assert len(confs) == 1, confs  # one file, so the nodes cannot disagree
    (path,) = confs
    assert path.is_relative_to(ROOT / "deploy"), path
    conf = rabbitmq_conf(path)
    assert conf["cluster_formation.peer_discovery_backend"] == "classic_config"
    peers = {v for k, v in conf.items() if k.startswith("cluster_formation.classic_config.nodes.")}
    assert peers == {f"rabbit@{services[name]['hostname']}" for name in CLUSTER_NODES}


def test_cluster_nodes_publish_their_own_host_ports(services: dict[str, Any]) -> None:
    published = [str(p).rsplit(":", 1)[0] for n in CLUSTER_NODES for p in services[n]["ports"]]
    assert len(published) == len(set(published)), published
    # none clashes with the one-node broker, so both can run side by side
    assert not set(published) & {str(p).rsplit(":", 1)[0] for p in services["rabbitmq"]["ports"]}
    assert any(str(p).endswith(":15672") for p in services["rabbitmq1"]["ports"])


def test_cluster_nodes_join_a_healthy_first_node(services: dict[str, Any]) -> None:
    for name in CLUSTER_NODES[1:]:
        assert depends_on(services[name]) == {"rabbitmq1": "service_healthy"}


def test_cluster_override_gives_every_service_all_three_nodes(
    services: dict[str, Any], cluster_override: dict[str, Any]
) -> None:
    for name in APP_SERVICES:
        assert name in services
        urls = environment(cluster_override[name])["TASKQ_AMQP_URL"].split(",")
        hosts = [urlsplit(url.replace("${", "").replace("}", "")).hostname or "" for url in urls]
        assert sorted(hosts) == sorted(CLUSTER_NODES), (name, urls)
        assert all(url.startswith("amqp://") and url.endswith(":5672/") for url in urls), urls
        # the same credentials as the nodes' default user
        assert all(
            "${RABBITMQ_DEFAULT_USER:-guest}:${RABBITMQ_DEFAULT_PASS:-guest}@" in url
            for url in urls
        ), urls


def test_cluster_override_waits_for_the_cluster_not_the_single_node(
    cluster_override: dict[str, Any],
) -> None:
    migrator_deps = cluster_override["migrator"]["depends_on"]
    # !override: merged, the one-node `rabbitmq` would stay a dependency
    assert isinstance(migrator_deps, Tagged) and migrator_deps.tag == "!override"
    assert depends_on({"depends_on": migrator_deps.value}) == dict.fromkeys(
        CLUSTER_NODES, "service_healthy"
    )
    assert cluster_override["rabbitmq"]["profiles"] == ["single"]


def test_cluster_override_has_no_credentials_and_make_uses_it() -> None:
    text = CLUSTER_OVERRIDE.read_text()
    without_defaults = re.sub(r"\$\{[A-Z0-9_]+:-[^}]*\}", "", text)
    without_comments = "\n".join(line.split("#", 1)[0] for line in without_defaults.splitlines())
    assert "guest" not in without_comments
    makefile = (ROOT / "Makefile").read_text()
    assert "-f compose.yaml -f deploy/compose.cluster.yaml --profile cluster" in makefile

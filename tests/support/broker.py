"""Where the tests' broker comes from, and a vhost of their own on it: the one home of the
management API calls that make and remove vhosts and queues (the benchmark uses them too)."""

from __future__ import annotations

import gc
import os
import socket
import urllib.parse
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

LOCAL_AMQP_URL = "amqp://guest:guest@localhost:5672/"  # the broker `make up` uses
LOCAL_MGMT_URL = "http://guest:guest@localhost:15672"
PROBE_TIMEOUT_S = 2.0
NO_BROKER = (
    "no RabbitMQ for integration tests: start one (`rabbitmq-server -detached`, or `make up`), "
    "run Docker, or set TASKQ_TEST_AMQP_URL"
)


class NoBroker(Exception):
    """No usable broker for the integration tests; the message says how to get one."""


@dataclass(frozen=True)
class Broker:
    amqp_url: str  # with the test vhost
    mgmt_url: str  # http://user:pass@host:15672
    vhost: str

    def api(self, timeout: float = 10) -> httpx.Client:
        return management_api(self.mgmt_url, timeout=timeout)

    def queue(self, name: str) -> dict[str, Any]:
        """The management API's view of one queue in the test vhost."""
        with self.api() as api:
            response = api.get(f"/api/queues/{segment(self.vhost)}/{segment(name)}")
            response.raise_for_status()
            found: dict[str, Any] = response.json()
            return found

    def queues(self) -> list[dict[str, Any]]:
        with self.api() as api:
            response = api.get(f"/api/queues/{segment(self.vhost)}")
            response.raise_for_status()
            found: list[dict[str, Any]] = response.json()
            return found

    def delete_prefixed(self, prefix: str) -> None:
        """Delete the queues and exchanges in the test vhost whose names start with `prefix`."""
        with self.api() as api:
            delete_prefixed(api, self.vhost, prefix)

    def connection_names(self) -> list[str]:
        """The client-given names of the connections in the test vhost (the management API lists
        a new connection only after its next statistics tick, up to seconds later)."""
        with self.api() as api:
            listed = api.get(f"/api/vhosts/{segment(self.vhost)}/connections")
            listed.raise_for_status()
            return sorted(
                str(conn.get("client_properties", {}).get("connection_name", ""))
                for conn in listed.json()
            )

    def close_all_connections(self) -> int:
        """Force-close every connection in the test vhost (like `rabbitmqctl close_all_connections`)."""
        closed = 0
        with self.api() as api:
            for conn in api.get(f"/api/vhosts/{segment(self.vhost)}/connections").json():
                api.delete(
                    f"/api/connections/{segment(conn['name'])}",
                    headers={"X-Reason": "taskq test: forced close"},
                )
                closed += 1
        return closed


def segment(value: str) -> str:
    """`value` as one segment of a management API path: the default vhost "/" is `%2F`."""
    return urllib.parse.quote(value, safe="")


def credentials(url: str) -> tuple[str, str]:
    """The user and password in an AMQP or management URL (RabbitMQ's guest/guest if none)."""
    parts = urllib.parse.urlsplit(url)
    return (
        urllib.parse.unquote(parts.username or "guest"),
        urllib.parse.unquote(parts.password or "guest"),
    )


def management_api(
    mgmt_url: str, auth: tuple[str, str] | None = None, timeout: float = 10
) -> httpx.Client:
    """A client of the management API at `mgmt_url`, as `auth` or else the URL's own user."""
    parts = urllib.parse.urlsplit(mgmt_url)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}"
    return httpx.Client(base_url=base, auth=auth or credentials(mgmt_url), timeout=timeout)


def with_vhost(amqp_url: str, vhost: str) -> str:
    """`amqp_url` pointed at `vhost`; a cluster's comma-separated list of node URLs, each one."""
    urls = [url.strip() for url in amqp_url.split(",") if url.strip()]
    return ",".join(
        urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/" + segment(vhost)))
        for url in urls
    )


def create_vhost(api: httpx.Client, user: str, prefix: str) -> str:
    """A new vhost named `prefix-<random>` on which `user` may do anything; returns its name."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api.put(f"/api/vhosts/{segment(vhost)}").raise_for_status()
    api.put(
        f"/api/permissions/{segment(vhost)}/{segment(user)}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    return vhost


def delete_vhost(api: httpx.Client, vhost: str) -> None:
    """Delete `vhost` with everything in it (the queues and exchanges too)."""
    api.delete(f"/api/vhosts/{segment(vhost)}")


def delete_prefixed(api: httpx.Client, vhost: str, prefix: str) -> None:
    """Delete the queues and exchanges in `vhost` whose names start with `prefix`: a queue's own
    name covers its dead, retry and control ones (`<queue>.dead`...)."""
    for kind in ("queues", "exchanges"):
        listed = api.get(f"/api/{kind}/{segment(vhost)}", params={"columns": "name"})
        if listed.status_code != 200:
            continue
        for item in listed.json():
            if item["name"].startswith(prefix):
                api.delete(f"/api/{kind}/{segment(vhost)}/{segment(item['name'])}")


def docker_available() -> bool:
    """True when a Docker engine answers, for a testcontainers RabbitMQ."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False
    # docker-py leaves its socket open when the engine does not answer: collect it here, quietly,
    # not in whichever later test the garbage collector happens to run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return _docker_pings()
        finally:
            gc.collect()


def _docker_pings() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def amqp_answers(amqp_url: str) -> bool:
    """True when something accepts a TCP connection on the AMQP URL's host and port."""
    parts = urllib.parse.urlsplit(amqp_url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    try:
        socket.create_connection((parts.hostname or "localhost", port), PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def mgmt_problem(mgmt_url: str) -> str | None:
    """None when the management API answers /api/overview; else one line saying what to do."""
    try:
        with management_api(mgmt_url, timeout=PROBE_TIMEOUT_S) as api:
            status = api.get("/api/overview").status_code
    except httpx.HTTPError:
        return (
            f"RabbitMQ answers but its management API ({_without_password(mgmt_url)}) does not: "
            "run `rabbitmq-plugins enable rabbitmq_management`"
        )
    if status != 200:
        return (
            f"the RabbitMQ management API ({_without_password(mgmt_url)}) answered HTTP {status} "
            "to /api/overview: check its user and password (TASKQ_TEST_MGMT_URL)"
        )
    return None


def locate(environ: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """The (AMQP URL, management URL) the tests use, or None for a testcontainers RabbitMQ.

    TASKQ_TEST_AMQP_URL if set, else the local broker `make up` uses when it answers, else None
    where Docker runs. Raises NoBroker, with one line saying how to fix it, otherwise.
    """
    url = environ.get("TASKQ_TEST_AMQP_URL")
    if url:
        parts = urllib.parse.urlsplit(url)
        default_mgmt = (
            f"http://{parts.username or 'guest'}:{parts.password or 'guest'}@{parts.hostname}:15672"
        )
        mgmt = environ.get("TASKQ_TEST_MGMT_URL") or default_mgmt
        if not amqp_answers(url):
            raise NoBroker(
                f"TASKQ_TEST_AMQP_URL={_without_password(url)} does not answer: start that broker "
                "or unset the variable to use the local one"
            )
    elif amqp_answers(LOCAL_AMQP_URL):
        url, mgmt = LOCAL_AMQP_URL, LOCAL_MGMT_URL
    elif docker_available():
        return None
    else:
        raise NoBroker(NO_BROKER)
    problem = mgmt_problem(mgmt)
    if problem is not None:
        raise NoBroker(problem)
    return url, mgmt


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def vhost_on(amqp_url: str, mgmt_url: str) -> Iterator[Broker]:
    """A fresh vhost on the broker for this test run, deleted afterwards."""
    with management_api(mgmt_url) as api:
        vhost = create_vhost(api, credentials(amqp_url)[0], "taskq-test")
    broker = Broker(amqp_url=with_vhost(amqp_url, vhost), mgmt_url=mgmt_url, vhost=vhost)
    try:
        yield broker
    finally:
        with broker.api() as api:
            delete_vhost(api, vhost)


@contextmanager
def test_broker() -> Iterator[Broker]:
    """A vhost of its own on the broker `locate()` finds (raises NoBroker when there is none)."""
    found = locate()
    if found is not None:
        with vhost_on(*found) as broker:
            yield broker
        return
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(5672, 15672) as container:
        host = container.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/"
        mgmt = f"http://guest:guest@{host}:{container.get_exposed_port(15672)}"
        with vhost_on(amqp, mgmt) as broker:
            yield broker

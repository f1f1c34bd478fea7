"""Guarantee 11: with TASKQ_API_TOKEN set, only the probes (and the static shells) are open."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.config import Settings
from tests.support.processes import Stack

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"

PROTECTED = [
    ("POST", "/tasks"),
    ("GET", "/tasks"),
    ("GET", f"/tasks/{uuid.uuid4()}"),
    ("POST", f"/tasks/{uuid.uuid4()}/retry"),
    ("POST", "/tasks/retry?status=failed"),
    ("GET", "/stats"),
    ("GET", "/metrics"),
]


def test_every_endpoint_but_the_probes_needs_the_token(
    stack: Stack, settings: Settings, settings_with, client: httpx.Client
) -> None:
    stack.migrate()
    stack.api(settings_with(settings, api_token=TOKEN))
    stack.consumer()
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200, path

    wrong = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
    ]
    for method, path in PROTECTED:
        for headers in wrong:
            response = client.request(method, path, headers=headers, json={"action": "x"})
            assert response.status_code == 401, (method, path, headers, response.status_code)
            assert response.json()["error"]
            assert response.headers["WWW-Authenticate"] == "Bearer"

    good = {"Authorization": f"Bearer {TOKEN}"}
    created = client.post("/tasks", json={"action": "uppercase"}, headers=good)
    assert created.status_code == 202
    task_id = created.json()["id"]
    assert client.get(f"/tasks/{task_id}", headers=good).status_code == 200
    assert client.get("/tasks", headers=good).status_code == 200
    assert client.get("/stats", headers=good).status_code == 200
    assert client.get("/metrics", headers=good).status_code == 200
    # the scheme is case-insensitive, as RFC 7235 says
    assert client.get("/tasks", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200

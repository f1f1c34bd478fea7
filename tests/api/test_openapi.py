"""The OpenAPI document matches the route table, is valid OpenAPI, and is served with the UIs."""

from __future__ import annotations

import jsonschema_rs
import pytest
from aiohttp import web
from schemathesis.specs.openapi.definitions import OPENAPI_30, OPENAPI_31

from services.api.docs import UI_PATHS, UI_PREFIXES, openapi_30
from services.api.main import create_app
from services.api.openapi import document
from services.migrator.main import main as migrate
from shared.config import Settings
from shared.names import Status

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every API route; HEAD rides along with GET and the UIs are left out."""
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or path in UI_PATHS:
            continue
        if isinstance(route.resource, web.StaticResource) or path.startswith(UI_PREFIXES):
            continue
        found.add((route.method.lower(), path))
    return found


def documented(spec: dict) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_route_is_documented_and_nothing_else() -> None:
    app = create_app(Settings())
    assert routed(app) == documented(document())


def test_ui_routes_are_registered() -> None:
    paths = {r.resource.canonical for r in create_app(Settings()).router.routes() if r.resource}
    assert {"/", "/docs", "/openapi.json", "/static", "/favicon.ico"} <= paths


def test_document_is_valid_openapi_31() -> None:
    spec = document()
    assert spec["openapi"] == "3.1.0"
    jsonschema_rs.validator_for(OPENAPI_31).validate(spec)


def test_swagger_ui_gets_a_valid_openapi_30_rendering() -> None:
    spec = openapi_30(document())
    assert spec["openapi"] == "3.0.3"
    jsonschema_rs.validator_for(OPENAPI_30).validate(spec)
    started_at = spec["components"]["schemas"]["Task"]["properties"]["started_at"]
    assert started_at == {"type": "string", "format": "date-time", "nullable": True}


def test_no_object_schema_has_a_default() -> None:
    """openapi-python-client refuses a default on an object (or object-or-null) schema and drops
    the schema that holds it, with every operation using it (issue 10: POST /tasks went)."""
    found: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            kinds = kind if isinstance(kind, list) else [kind]
            if "object" in kinds and "default" in node:
                found.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(document(), "#")
    assert found == []


def test_every_ref_resolves() -> None:
    spec = document()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                section, kind, name = node["$ref"].removeprefix("#/").split("/")
                assert name in spec[section][kind], node["$ref"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)


def test_statuses_and_probes() -> None:
    spec = document()
    assert spec["components"]["schemas"]["Status"]["enum"] == [s.value for s in Status]
    public = {
        path
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS and op.get("security") == []
    }
    assert public == {"/healthz", "/readyz"}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_each_operation_lists_what_its_view_can_answer() -> None:
    paths = document()["paths"]
    answers = {
        ("/tasks", "post"): {"202", "400", "401", "409", "413", "415", "422", "503"},
        ("/tasks", "get"): {"200", "400", "401"},
        ("/tasks/retry", "post"): {"202", "400", "401", "503"},
        ("/tasks/{task_id}", "get"): {"200", "400", "401", "404"},
        ("/tasks/{task_id}/retry", "post"): {"202", "400", "401", "404", "409", "503"},
        ("/stats", "get"): {"200", "401"},
        ("/healthz", "get"): {"200"},
        ("/readyz", "get"): {"200", "503"},
        ("/metrics", "get"): {"200", "401"},
    }
    assert {(p, m): set(paths[p][m]["responses"]) for p, m in answers} == answers


@pytest.mark.integration
async def test_docs_and_dashboard_are_served_without_the_token(
    aiohttp_client, settings: Settings, settings_with
) -> None:
    settings = settings_with(settings, api_token="s3cret")
    await migrate(settings)
    client = await aiohttp_client(create_app(settings))

    served = await client.get("/openapi.json")
    assert served.status == 200
    assert await served.json() == document()
    for path, kind in [
        ("/docs", "text/html"),
        ("/docs/swagger-ui-bundle.js", "javascript"),
        ("/docs/openapi-3.0.json", "application/json"),
        ("/", "text/html"),
        ("/static/app.js", "javascript"),
        ("/static/style.css", "text/css"),
        ("/favicon.ico", "image/svg+xml"),
    ]:
        response = await client.get(path)
        assert response.status == 200, path
        assert kind in response.headers["Content-Type"], path
    docs = await (await client.get("/docs")).text()
    assert "/docs/openapi-3.0.json" in docs and "//cdn" not in docs and "https://" not in docs

    assert (await client.get("/stats")).status == 401
    authorized = await client.get("/stats", headers={"Authorization": "Bearer s3cret"})
    assert authorized.status == 200

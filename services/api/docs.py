"""What people look at: the OpenAPI document, Swagger UI at /docs and the dashboard at /.

Everything is served by the API itself, so it works without internet access (no CDN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import swagger_ui_bundle
from aiohttp import web

from services.api.openapi import document

DASHBOARD_DIR = Path(__file__).parent / "dashboard"
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
# The Swagger UI that swagger-ui-bundle ships (4.x) renders OpenAPI 3.0 only; it gets the same
# document restated in 3.0 terms, while /openapi.json stays the 3.1 original.
SWAGGER_SPEC_PATH = "/docs/openapi-3.0.json"

# Routes that serve people rather than the API; the OpenAPI document leaves them out.
UI_PATHS = frozenset({"/", "/docs", "/docs/", "/openapi.json", SWAGGER_SPEC_PATH, "/favicon.ico"})
UI_PREFIXES = ("/docs/", "/static/")

SWAGGER_INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>taskq API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "%s",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
    });
  </script>
</body>
</html>
"""


def openapi_30(node: Any) -> Any:
    """The 3.1 document restated for OpenAPI 3.0 readers: `type: [X, "null"]` becomes
    `type: X, nullable: true`. The document uses no other 3.1-only construct."""
    if isinstance(node, list):
        return [openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: openapi_30(value) for key, value in node.items()}
    kind = out.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [k for k in kind if k != "null"]
        out["type"] = rest[0]
        out["nullable"] = True
    if out.get("openapi") == "3.1.0":
        out["openapi"] = "3.0.3"
    return out


def _json(payload: Any) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


def _html(text: str) -> web.Response:
    # the shells are tiny and change with each release: always revalidate
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-cache"})


def setup_docs(app: web.Application) -> None:
    """Register /openapi.json, /docs (Swagger UI) and the dashboard (/ and /static/)."""
    spec = document()
    spec_30 = openapi_30(spec)
    swagger_index = SWAGGER_INDEX % SWAGGER_SPEC_PATH
    dashboard_index = (DASHBOARD_DIR / "index.html").read_text()

    async def openapi_json(request: web.Request) -> web.Response:
        return _json(spec)

    async def swagger_spec(request: web.Request) -> web.Response:
        return _json(spec_30)

    async def swagger(request: web.Request) -> web.Response:
        return _html(swagger_index)

    async def dashboard(request: web.Request) -> web.Response:
        return _html(dashboard_index)

    async def favicon(request: web.Request) -> web.FileResponse:
        return web.FileResponse(DASHBOARD_DIR / "favicon.svg")

    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get(SWAGGER_SPEC_PATH, swagger_spec)
    app.router.add_get("/docs", swagger)
    app.router.add_get("/docs/", swagger)
    app.router.add_static("/docs/", SWAGGER_DIR)
    app.router.add_get("/", dashboard)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", DASHBOARD_DIR)

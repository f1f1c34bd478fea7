"""Building blocks of the OpenAPI document, shared by the modules that describe its parts."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
JSON = "application/json"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def closed(required: list[str], **properties: Schema) -> Schema:
    """An object schema that names every property the API sends."""
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def json_body(schema: Schema, description: str, headers: Schema | None = None) -> Schema:
    response: Schema = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def error(description: str, headers: Schema | None = None) -> Schema:
    return json_body(ref("Error"), description, headers)


def header(description: str, schema: Schema | None = None) -> Schema:
    return {"description": description, "schema": schema or {"type": "string"}}


def responses(**by_status: Schema) -> Schema:
    return {status.removeprefix("s"): response for status, response in by_status.items()}


def use(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


def query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }

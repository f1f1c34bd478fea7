"""Building blocks of the OpenAPI document, shared by the modules that describe its parts."""

from __future__ import annotations

from typing import Any

from services.api.validation import MAX_ACTION_LENGTH, MAX_KEY_LENGTH

Schema = dict[str, Any]

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
JSON = "application/json"
TIMESTAMP = {"type": "string", "format": "date-time"}
ACTION_FILTER = {"type": "string", "maxLength": MAX_ACTION_LENGTH}
# the path parameter of every /tasks/{task_id} route
TASK_ID = [{"$ref": "#/components/parameters/TaskId"}]


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


def complete(**properties: Schema) -> Schema:
    """A closed object schema whose every property is always sent."""
    return closed(list(properties), **properties)


def json_body(schema: Schema, description: str, headers: Schema | None = None) -> Schema:
    response: Schema = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def error(description: str, headers: Schema | None = None) -> Schema:
    return json_body(ref("Error"), description, headers)


def header(description: str, schema: Schema | None = None) -> Schema:
    return {"description": description, "schema": schema or {"type": "string"}}


RETRY_AFTER = {"Retry-After": header("Seconds to wait before trying again.")}


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


def idempotency_key(description: str) -> Schema:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": "^[ -~]+$",
        },
        "description": description,
    }


def json_request(schema: str, **media: Any) -> Schema:
    return {"required": True, "content": {JSON: {"schema": ref(schema), **media}}}


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    *,
    description: str | None = None,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    public: bool = False,
    bad_request: bool = True,
    **by_status: Schema,
) -> Schema:
    """One operation, with the answers it shares with its kind: 400 unless it reads no input
    (bad_request=False), 401 unless it is public, 415 when it takes a body. `by_status` (s200=...)
    adds the rest and may restate one of these; the answers come in status order."""
    answers: Schema = {}
    if bad_request:
        answers["400"] = use("BadRequest")
    if not public:
        answers["401"] = use("Unauthorized")
    if body is not None:
        answers["415"] = error("Content-Type is not application/json.")
    answers.update(responses(**by_status))
    built: Schema = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description is not None:
        built["description"] = description
    if public:
        built["security"] = []
    if parameters:
        built["parameters"] = parameters
    if body is not None:
        built["requestBody"] = body
    built["responses"] = dict(sorted(answers.items()))
    return built

"""The OpenAPI document says what our error answers are: RFC 9457 problem details (``application/problem+json``).

FastAPI documents a 422 as its own ``HTTPValidationError`` shape and leaves the other error statuses a route lists
without a body; every one of them is answered by ``dealpulse_common.service.problem``. So each documented error
status without a body of its own, and FastAPI's 422, is documented as the ``Problem`` schema, which is what a
client (and schemathesis' schema checks) should expect.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM_JSON = "application/problem+json"
# The statuses answered as problem details; a 500 is left alone (Salesforce's webhook answers a SOAP fault).
PROBLEM_STATUSES = {"400", "401", "403", "404", "405", "409", "413", "415", "422", "429", "503"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": ["string", "null"], "description": "the X-Request-ID of the request answered"},
        "errors": {"type": ["array", "null"], "description": "one entry per invalid field", "items": {
            "type": "object", "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}},
    },
}
_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def document_problems(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _as_problems(generate())  # generate() keeps what it made in app.openapi_schema
        document: dict[str, Any] = generate()
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _as_problems(document: dict[str, Any]) -> None:
    problem_body = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status in PROBLEM_STATUSES and (not response.get("content") or _is_fastapi_validation(response)):
                    response["content"] = problem_body
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    if _FASTAPI_VALIDATION not in str(document.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _FASTAPI_VALIDATION)

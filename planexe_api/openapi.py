"""What the OpenAPI description says an operation can answer besides success, in one place.

A route names the statuses that depend on what it does (``responses=errors(400, 409)``);
``install`` adds those that follow from where it sits, by one rule each:

- 422 ``invalid_request`` on every operation with parameters or a body, with our error
  body (FastAPI's default declares its own ``HTTPValidationError``, which we never send);
- 413 ``request_too_large`` and 403 ``cross_site_request`` on operations with a body
  or that change something (``body_limit``, ``security``);
- 404 ``plan_not_found`` on every path under ``/plans/{plan_id}``;
- 401 ``unauthorized`` and 400 ``invalid_host`` everywhere but the open health probes;
- 503 ``database_unavailable`` on every operation that reads the database.

It also drops ``null`` from optional parameters' schemas (see ``_not_null``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from planexe_api.schemas import ErrorBody

DESCRIPTIONS = {
    400: "Bad input the schema cannot express; `code` says which (docs/api.md, Errors).",
    401: "`unauthorized`: PLANEXE_API_TOKEN is set and the request has no valid token.",
    403: "`cross_site_request`: a change asked for by a page on another site.",
    404: "`plan_not_found` (also for any string that is not a plan id), or the named part is missing.",
    409: "The plan's state does not allow this now; `code` says why.",
    413: "`request_too_large`: the body is over PLANEXE_MAX_BODY_BYTES.",
    422: "`invalid_request`: the request breaks the schema; `errors` names each field.",
    429: "`queue_full`: PLANEXE_MAX_QUEUED_PLANS plans are queued; retry after Retry-After seconds.",
    503: "`database_unavailable`: retry after Retry-After seconds.",
}
OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # answered for any Host, with no token
NO_DATABASE = frozenset({"/healthz", "/metrics"})  # /metrics still answers when the database does not
UNSAFE = frozenset({"post", "put", "patch", "delete"})
_SCHEMA_REF = {"$ref": f"#/components/schemas/{ErrorBody.__name__}"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with our error body and its description."""
    return {status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses}


def _error(status: int) -> dict[str, Any]:
    return {"description": DESCRIPTIONS[status], "content": {"application/json": {"schema": _SCHEMA_REF}}}


def _implied(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    statuses = []
    if operation.get("parameters") or "requestBody" in operation:
        statuses.append(422)
    if method in UNSAFE or "requestBody" in operation:
        statuses += [403, 413]
    if path.startswith("/plans/{plan_id}"):
        statuses.append(404)
    if path not in OPEN_PATHS:
        statuses += [400, 401]
    if path not in NO_DATABASE:
        statuses.append(503)
    return statuses


def _not_null(parameter: dict[str, Any]) -> None:
    """An optional query or header parameter is absent or a string: never JSON null (FastAPI
    declares ``str | None`` as ``anyOf: [string, null]``, and clients then send "null")."""
    schema = parameter.get("schema", {})
    branches = schema.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return
    rest = [b for b in branches if b != {"type": "null"}]
    del schema["anyOf"]
    if len(rest) == 1:
        schema.update(rest[0])
    else:
        schema["anyOf"] = rest


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """Add every implied error status to each operation of ``schema`` (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(ErrorBody.__name__, ErrorBody.model_json_schema())
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                _not_null(parameter)
            responses = operation.setdefault("responses", {})
            for status in _implied(path, method, operation):
                key = str(status)
                if status == 422 or key not in responses:
                    responses[key] = _error(status)
            for key, response in responses.items():
                if key.startswith(("4", "5")):
                    # Errors are JSON whatever the success is (FastAPI files a route's declared
                    # errors under its own media type: text/html for the report).
                    response["content"] = _error(int(key))["content"]
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and /openapi.json) return the described schema, built once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

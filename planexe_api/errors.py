"""API errors: one JSON shape, ``{"code": ..., "message": ...}``, produced in one place.

ApiError
├── NotFound          404 plan_not_found / file_not_found
├── Conflict          409 (state does not allow the action; report not ready; idempotency clash)
├── Unprocessable     422 (a value the request's schema allows but the plan has not: an unknown task)
├── TooManyPlans      429 queue_full, with Retry-After
├── Unavailable       503
└── StoreFailed       500 store_error
Store errors become ApiErrors in ``as_api_error``: StoreUnavailable (database down
or restarting) -> 503 ``database_unavailable`` with Retry-After; any other
StoreError -> 500 ``store_error``.
Request validation (FastAPI's) becomes 422 ``invalid_request`` naming each field, and so
does a body that is not UTF-8 JSON text. Starlette's own HTTP errors keep their headers
(405 its ``Allow``) and get a code from ``HTTP_ERROR_CODES``, else ``http_error``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from planexe.log import get_logger, scrub
from planexe_api.allowed_methods import allowed_methods
from planexe_api.db.errors import StoreError, StoreUnavailable

log = get_logger(__name__)

HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
HTTP_ERROR = "http_error"  # any other status Starlette or FastAPI raise themselves


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.headers = headers or {}
        self.details = details or {}  # more fields of the error body, for a client to act on


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "invalid_request"


class TooManyPlans(ApiError):
    status = 429
    code = "queue_full"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


class StoreFailed(ApiError):
    status = 500
    code = "store_error"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": scrub(message), **extra}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def as_api_error(exc: StoreError) -> ApiError:
    """What a client is told when the store fails: every face (REST, MCP) says the same."""
    if isinstance(exc, StoreUnavailable):
        return Unavailable(
            f"{exc.message}; retry shortly", code="database_unavailable", headers={"Retry-After": "2"}
        )
    return StoreFailed(exc.message)


def describe_validation_error(err: Any) -> str:
    """One pydantic error as ``field: problem``, the wording of every ``invalid_request``."""
    field = _field(tuple(err.get("loc", ())))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"{field}: unknown field; remove it"
    if kind == "missing":
        return f"{field}: required"
    if kind == "json_invalid":
        # Its location is the character the parser stopped at, not a field.
        where = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
        detail = (err.get("ctx") or {}).get("error") or "malformed"
        return f"body: not valid JSON: {detail}" + (f" (at character {where})" if where is not None else "")
    return f"{field}: {err.get('msg', 'invalid')}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.details), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [describe_validation_error(e) for e in exc.errors()]
        return JSONResponse(
            error_body("invalid_request", "; ".join(problems), errors=problems), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # FastAPI's "error parsing the body": bytes that are not UTF-8 (UnicodeDecodeError)
            # and the like. Malformed JSON is a validation error already; this is one too.
            problem = f"body: not valid JSON text; send UTF-8 encoded JSON ({exc.__cause__})"
            return JSONResponse(error_body("invalid_request", problem, errors=[problem]), status_code=422)
        code = HTTP_ERROR_CODES.get(exc.status_code, HTTP_ERROR)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
        error = as_api_error(exc)
        if not isinstance(exc, StoreUnavailable):
            log.error("store_error", path=request.url.path, error=exc.message)
        return JSONResponse(
            error_body(error.code, error.message), status_code=error.status, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return JSONResponse(
            error_body("internal_error", "internal error; see the server log"), status_code=500
        )

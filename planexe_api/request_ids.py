"""Every HTTP request gets an id, in its answer and in every log line it causes.

A client (or a proxy in front of us) may send ``X-Request-ID``; a well-formed one
is kept so one id follows the request across systems, anything else is replaced
by a fresh one (an id is grepped for and shown, so it must be short and plain).
The id is bound into structlog's context for the request's own task, so every
line logged while it is handled carries ``request_id``; the answer carries the
header back, errors included. A plan's launch happens later, in the runner: its
lines carry ``plan_id`` instead, and the child's lines ``plan_id`` and ``run``
(planexe/pipeline/runner.py), so one plan can be followed from request to child.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog

from planexe.log import get_logger

log = get_logger("planexe_api.http")

HEADER = b"x-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def _incoming(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER and _WELL_FORMED.fullmatch(value):
            return value.decode("ascii")
    return None


class RequestId:
    """Pure ASGI middleware (no body buffering, so event streams pass untouched)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode("ascii")
        status = 0

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, encoded)]}
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # One line per request (uvicorn's access log is off: it knows no request id).
            # Reads that went well are debug: a dashboard's polling would drown the rest.
            quiet = scope["method"] in ("GET", "HEAD") and 0 < status < 400
            (log.debug if quiet else log.info)(
                "http_request",
                method=scope["method"],
                path=scope["path"],  # never the query: it may carry a token
                status=status or None,  # None: the client went away before an answer
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.reset_contextvars(**tokens)

"""The bearer-token check, as a plain ASGI middleware.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's
``BaseHTTPMiddleware`` runs every request in an extra task group with memory
streams between the two halves, ~10 % of a GET's CPU here.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from planexe_api.errors import error_body


class BearerToken:
    def __init__(self, app: ASGIApp, *, token: str, open_paths: Collection[str]) -> None:
        self.app = app
        self.token = token.encode()
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            error_body("unauthorized", "send 'Authorization: Bearer <PLANEXE_API_TOKEN>'"),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, value = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self.token)

"""The bearer-token check, as a plain ASGI middleware, and the dashboard's session cookie.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's
``BaseHTTPMiddleware`` runs every request in an extra task group with memory
streams between the two halves, ~10 % of a GET's CPU here.

A browser cannot send ``Authorization`` from an ``EventSource`` or a link, so
the dashboard's login form (``web/login.py``) trades the token, once, for a
session cookie that this same check accepts: ``HttpOnly`` (no script can read
it), ``SameSite=Strict`` (no other site's page can make the browser send it,
which is what keeps cookie-authenticated POSTs safe from cross-site forgery)
and signed with the token, so it proves the token was known without
containing it, expires on its own, and every session ends when the token
changes. Clients that send the bearer header are unaffected. A state change
that a browser says comes from another site never gets here: that rule,
with or without a cookie, is ``security.CrossSiteGuard``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Collection
from urllib.parse import quote

from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from planexe_api.errors import error_body

SESSION_COOKIE = "planexe_session"
AUTH_STATE_KEY = "planexe_auth"  # in the ASGI scope's state: how the request proved the token
SESSION_MAX_AGE_S = 7 * 24 * 3600  # a week; then the dashboard asks for the token again


def _signature(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"planexe-session:v1:{expires}".encode(), hashlib.sha256).hexdigest()


def session_cookie_value(token: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + SESSION_MAX_AGE_S)
    return f"v1.{expires}.{_signature(token, expires)}"


def session_valid(token: str, value: str, now: float | None = None) -> bool:
    version, _, rest = value.partition(".")
    expires_text, _, signature = rest.partition(".")
    if version != "v1" or not expires_text.isdigit():
        return False
    expires = int(expires_text)
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, expires).encode())


def token_matches(token: str, given: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _header(scope: Scope, name: bytes) -> bytes:
    return next((v for k, v in scope["headers"] if k == name), b"")


def _cookie(scope: Scope, name: str) -> str | None:
    for part in _header(scope, b"cookie").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class BearerToken:
    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        open_paths: Collection[str],
        open_prefixes: Collection[str] = (),
        login_path: str | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.token_bytes = token.encode()
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = tuple(open_prefixes)
        self.login_path = login_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in self.open_paths
            or scope["path"].startswith(self.open_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        how = "token" if self._bearer(scope) else "session" if self._session(scope) else None
        if how is not None:
            # Who asked, for the events of what they asked for (principal.py).
            scope.setdefault("state", {})[AUTH_STATE_KEY] = how
            await self.app(scope, receive, send)
            return
        response: Response
        if self.login_path and scope["method"] == "GET" and b"text/html" in _header(scope, b"accept"):
            # A person in a browser: ask for the token, then come back here.
            target = scope["path"] + (
                f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else ""
            )
            response = RedirectResponse(f"{self.login_path}?next={quote(target, safe='')}", status_code=303)
        else:
            response = JSONResponse(
                error_body("unauthorized", "send 'Authorization: Bearer <PLANEXE_API_TOKEN>'"),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)

    def _bearer(self, scope: Scope) -> bool:
        scheme, _, value = _header(scope, b"authorization").partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self.token_bytes)

    def _session(self, scope: Scope) -> bool:
        value = _cookie(scope, SESSION_COOKIE)
        return value is not None and session_valid(self.token, value)

"""What a browser may do here: which Host names are answered, which origins may change plans, the
headers every answer carries. Plain ASGI middlewares, installed by ``install`` in the app factory.

With no token set (the default) a browser is the attack surface: any page the
user opens can make it send requests to this service.

- ``HostCheck``: a page on evil.example whose name is made to resolve to
  127.0.0.1 (DNS rebinding) reaches the service as same-origin, able to read
  and submit plans; its requests say ``Host: evil.example``. Only localhost
  names, loopback addresses, the address the request arrived at and
  ``PLANEXE_ALLOWED_HOSTS`` are answered; /mcp included (the MCP SDK's own
  check is off, so there is one rule). /healthz and /readyz are open to any
  Host: load balancers probe with names of their own, and they tell nothing.
- ``CrossSiteGuard``: a page on another origin cannot read our answers, but a
  ``no-cors`` POST still arrives and cancels a plan. A request that changes
  something is refused when the browser says it comes from another site
  (``Sec-Fetch-Site``) or another origin (``Origin`` other than the Host),
  unless that origin is in ``PLANEXE_CORS_ORIGINS``. Clients that are not
  browsers send neither header and are unaffected. This is also what keeps
  the dashboard's session cookie from being used by other sites (auth.py).
- CORS (Starlette's ``CORSMiddleware``), only with ``PLANEXE_CORS_ORIGINS``,
  for front ends of your own; they authenticate with the bearer token, so
  credentials (cookies) are not allowed cross-origin.
- ``SecurityHeaders``: ``nosniff`` and a referrer policy on every answer; on
  HTML, a Content-Security-Policy header and no framing by other origins.

Order, outermost first: headers, Host, CORS (answers preflights, which carry
no token), cross-site, token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planexe.report.render import CSP as REPORT_META_CSP
from planexe.settings import Settings, comma_list
from planexe_api.errors import error_body

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_SHOWN_HOST_CHARS = 100  # a refused Host is echoed in the message, cut to this

# The dashboard's own pages load only their own scripts and stylesheet: no inline script,
# style or event handler, no eval. The report is framed from the same origin, hence frame-src.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; font-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# HTML we did not write (the report, stored files: text from a language model): no script at
# all. The dashboard shows the report in a frame, so the same origin may frame it.
DOCUMENT_CSP = f"{REPORT_META_CSP}; frame-ancestors 'self'"
# /docs (apidocs) sends its own, stricter policy: Swagger UI from this origin only.
_CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "Mcp-Protocol-Version")
_CORS_EXPOSED = ("Location", "Retry-After", "ETag", "X-Next-Cursor")


def _header(scope: Scope, name: bytes) -> str:
    return next((v for k, v in scope["headers"] if k == name), b"").decode("latin-1")


def host_name(host: str) -> str | None:
    """The name in a Host header, lower-case, without port or trailing dot; None if malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name
    name, colon, port = host.rpartition(":")
    if colon:
        if not port.isdigit() or ":" in name:
            return None
        host = name
    return host.rstrip(".") or None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class HostRule:
    """Which Host names the service answers for."""

    def __init__(self, names: Iterable[str]) -> None:
        names = [n.lower().strip("[]").rstrip(".") for n in names]
        self.any = "*" in names
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))  # "*.x.org" -> ".x.org"
        self.names = frozenset(n for n in names if not n.startswith("*"))

    def allows(self, name: str, arrived_at: str | None) -> bool:
        if self.any or name in self.names or name.endswith(self.suffixes):
            return True
        # *.localhost always means this machine (RFC 6761); browsers never ask DNS for it.
        if name == "localhost" or name.endswith(".localhost"):
            return True
        address = _ip(name)
        if address is None:
            return False
        # A page whose origin is an IP literal was served from that address, by us: an address
        # cannot be rebound. Loopback, the address the connection came in on, and 0.0.0.0 / ::
        # (which reach this machine, the address `--host 0.0.0.0` binds) are ours.
        return (
            address.is_loopback
            or address.is_unspecified
            or (arrived_at is not None and address == _ip(arrived_at))
        )


class HostCheck:
    def __init__(self, app: ASGIApp, *, rule: HostRule, open_paths: Collection[str]) -> None:
        self.app = app
        self.rule = rule
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            raw = _header(scope, b"host")
            name = host_name(raw) if raw else ""
            server = scope.get("server")
            arrived_at = str(server[0]) if server else None
            # No Host header at all (HTTP/1.0 tools) cannot be a browser's rebound request.
            if name is None or (name and not self.rule.allows(name, arrived_at)):
                shown = raw[:MAX_SHOWN_HOST_CHARS]
                response = JSONResponse(
                    error_body(
                        "invalid_host",
                        f"this service does not answer for the host {shown!r}; if clients reach it "
                        "by that name, add it to PLANEXE_ALLOWED_HOSTS",
                    ),
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _origin_netloc(origin: str) -> str | None:
    scheme, separator, netloc = origin.partition("://")
    if not separator or scheme not in ("http", "https") or "/" in netloc:
        return None
    return netloc.lower()


class CrossSiteGuard:
    def __init__(self, app: ASGIApp, *, allowed_origins: Collection[str]) -> None:
        self.app = app
        self.any_origin = "*" in allowed_origins
        self.allowed_origins = frozenset(o.lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS and self.refuses(scope):
            response = JSONResponse(
                error_body(
                    "cross_site_request",
                    "a page on another site may not change anything here; to let a front end of "
                    "your own do so, add its origin to PLANEXE_CORS_ORIGINS",
                ),
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refuses(self, scope: Scope) -> bool:
        origin = _header(scope, b"origin").strip()
        if origin and (self.any_origin or origin.lower() in self.allowed_origins):
            return False
        # Sec-Fetch-Site is set by the browser itself; no page can forge or remove it.
        site = _header(scope, b"sec-fetch-site").strip().lower()
        if site in ("same-origin", "none"):
            return False
        if site == "cross-site":
            return True
        if not origin:
            # same-site without an Origin is no browser we know; neither header: not a browser.
            return site == "same-site"
        # same-site (another port of this host counts) or an older browser: the Origin decides.
        return _origin_netloc(origin) != _header(scope, b"host").strip().lower()


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", ()))
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if headers.get("content-type", "").startswith("text/html"):
                    policy = headers.setdefault("Content-Security-Policy", DOCUMENT_CSP)
                    framing = "SAMEORIGIN" if "frame-ancestors 'self'" in policy else "DENY"
                    headers.setdefault("X-Frame-Options", framing)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings, *, open_paths: Collection[str]) -> None:
    """Add the middlewares; call after the token check is added (each add wraps the last)."""
    origins = comma_list(settings.cors_origins)
    app.add_middleware(CrossSiteGuard, allowed_origins=origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=_CORS_HEADERS,
            expose_headers=_CORS_EXPOSED,
            allow_credentials=False,
        )
    app.add_middleware(HostCheck, rule=HostRule(comma_list(settings.allowed_hosts)), open_paths=open_paths)
    app.add_middleware(SecurityHeaders)

"""/mcp in the FastAPI app: the SDK's Streamable HTTP transport, stateless.

Stateless: each POST carries a whole exchange, so no MCP session lives in this
process and any replica can answer any request (the design's "no face keeps
state of its own"). What that gives up: server-to-client requests (sampling,
elicitation), which no tool uses; progress notifications still flow, on the
POST's own event stream.

The session manager must run inside the app's lifespan (its task group hosts
the request handlers) and can run only once, so the lifespan makes a new one
each time and the route finds it on ``app.state``.

The bearer-token check (``auth.BearerToken``) wraps the whole app, /mcp
included; the SDK's own DNS-rebinding protection checks Host and Origin
against ``PLANEXE_MCP_ALLOWED_HOSTS``.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from planexe.settings import Settings
from planexe_api.mcp.server import build_server
from planexe_api.state import AppState

PATH = "/mcp"
MAX_REQUEST_BYTES = 256 * 1024  # a tool call is small; the largest, plan_create, is under 40 KB


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding protection: a browser page on another site must not reach /mcp
    through a name that resolves to this machine. ``*`` turns the check off."""
    names = [n.strip() for n in settings.mcp_allowed_hosts.split(",") if n.strip()]
    if "*" in names:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = [pattern for name in names for pattern in (name, f"{name}:*")]
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def start(state: AppState) -> tuple[StreamableHTTPSessionManager, AbstractAsyncContextManager[None]]:
    """A new session manager for this lifespan, and the context that runs it."""
    manager = StreamableHTTPSessionManager(
        app=build_server(state),
        stateless=True,
        security_settings=transport_security(state.settings),
        max_request_body_size=MAX_REQUEST_BYTES,
    )
    return manager, manager.run()


class _Endpoint:
    """ASGI app for the route: hands the request to this lifespan's session manager."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager: StreamableHTTPSessionManager = scope["app"].state.mcp
        await manager.handle_request(scope, receive, send)


def route() -> Route:
    return Route(PATH, endpoint=_Endpoint(), methods=["GET", "POST", "DELETE"], include_in_schema=False)

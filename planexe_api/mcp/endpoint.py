"""/mcp in the FastAPI app: the SDK's Streamable HTTP transport, stateless.

Stateless: each POST carries a whole exchange, so no MCP session lives in this
process and any replica can answer any request (the design's "no face keeps
state of its own"). What that gives up: server-to-client requests (sampling,
elicitation), which no tool uses; progress notifications still flow, on the
POST's own event stream.

The session manager must run inside the app's lifespan (its task group hosts
the request handlers) and can run only once, so the lifespan makes a new one
each time and the route finds it on ``app.state``.

The bearer-token check (``auth.BearerToken``) and the browser rules
(``security.py``: allowed Host names against DNS rebinding, no state changes
from other sites) wrap the whole app, /mcp included. The SDK's own
DNS-rebinding protection is off: one Host rule for every route, set by
``PLANEXE_ALLOWED_HOSTS``.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from planexe_api.mcp.server import build_server
from planexe_api.state import AppState

PATH = "/mcp"
MAX_REQUEST_BYTES = 256 * 1024  # a tool call is small; the largest, plan_create, is under 40 KB


def start(state: AppState) -> tuple[StreamableHTTPSessionManager, AbstractAsyncContextManager[None]]:
    """A new session manager for this lifespan, and the context that runs it."""
    manager = StreamableHTTPSessionManager(
        app=build_server(state),
        stateless=True,
        # security.HostCheck and security.CrossSiteGuard already ran (see the module docstring).
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
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

"""``planexe mcp``: a stdio MCP server that forwards every call to a running PlanExe.

Desktop clients (Claude Desktop, LM Studio, ...) start MCP servers as commands
and talk over stdin/stdout. This command is such a server, with no tools of its
own: it lists the service's tools and forwards each call, progress
notifications included, to the service's /mcp over HTTP. So the tools, their
descriptions and their errors are exactly the service's, and a proxy from an
older PlanExe still offers whatever the service has.

Each request opens its own connection: the service's endpoint is stateless, so
nothing is lost, and a service that restarts (or starts after the desktop
client) is simply reachable again on the next call. When the service cannot be
reached, or refuses the token, the call fails as a tool error saying so.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from planexe import __version__
from planexe.log import configure_logging, get_logger, register_secret
from planexe.settings import get_settings
from planexe_api.mcp.limits import WAIT_MAX_S
from planexe_api.mcp.results import error_result

HELP = (
    "serve PlanExe's MCP tools over stdio, forwarding to a running service"  # the line `planexe --help` shows
)

log = get_logger(__name__)

DEFAULT_URL = "http://127.0.0.1:8000"
CONNECT_TIMEOUT_S = 10.0
# The longest tool call is a plan_wait at its cap; give the answer time to arrive.
READ_TIMEOUT_S = WAIT_MAX_S + 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve PlanExe's MCP tools over stdio for desktop clients, forwarding each call to a running "
        "PlanExe service (`planexe serve`) over HTTP. See docs/mcp.md."
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"the service's base URL (default {DEFAULT_URL}); /mcp is added"
    )
    parser.add_argument(
        "--token",
        default=None,
        help="the service's PLANEXE_API_TOKEN; better: set PLANEXE_API_TOKEN in the client's env block, "
        "as a command line is visible to other users of the machine",
    )


def endpoint_of(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/mcp") else f"{url}/mcp"


@dataclass
class _HttpErrors:
    """The last HTTP error answer of a connection, kept to explain a failed call."""

    last: tuple[int, Any] | None = None

    async def hook(self, response: httpx2.Response) -> None:
        if response.status_code < 400:
            return
        await response.aread()
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        self.last = (response.status_code, body)


class Forwarder:
    def __init__(self, url: str, token: str | None) -> None:
        self.endpoint = endpoint_of(url)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @asynccontextmanager
    async def connect(self, errors: _HttpErrors) -> AsyncIterator[Client]:
        timeout = httpx2.Timeout(CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
        async with (
            httpx2.AsyncClient(
                headers=self.headers, timeout=timeout, event_hooks={"response": [errors.hook]}
            ) as http,
            Client(streamable_http_client(self.endpoint, http_client=http)) as client,
        ):
            yield client

    def explain(self, exc: BaseException, errors: _HttpErrors) -> tuple[str, str]:
        """(code, message) for a call that failed in transport or at the service's HTTP layer."""
        if errors.last is not None:
            status, body = errors.last
            if isinstance(body, dict) and {"code", "message"} <= body.keys():
                return str(body["code"]), str(body["message"])
            return "http_error", f"{self.endpoint} answered HTTP {status}: {body}"
        for cause in _causes(exc):
            if isinstance(cause, httpx2.TransportError):
                return (
                    "service_unreachable",
                    f"cannot reach PlanExe at {self.endpoint} ({type(cause).__name__}: {cause}); "
                    "is `planexe serve` running there?",
                )
        return "proxy_error", f"the call to {self.endpoint} failed: {type(exc).__name__}: {exc}"

    async def list_tools(self) -> types.ListToolsResult:
        errors = _HttpErrors()
        try:
            async with self.connect(errors) as client:
                return await client.list_tools()
        except Exception as exc:
            code, message = self.explain(exc, errors)
            log.warning("mcp_proxy_list_failed", code=code, error=message)
            raise MCPError(code=types.INTERNAL_ERROR, message=f"{code}: {message}") from None

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        async def forward_progress(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        errors = _HttpErrors()
        try:
            async with self.connect(errors) as client:
                return await client.session.call_tool(
                    params.name,
                    params.arguments,
                    read_timeout_seconds=READ_TIMEOUT_S,
                    progress_callback=forward_progress,
                )
        except Exception as exc:
            code, message = self.explain(exc, errors)
            log.warning("mcp_proxy_call_failed", tool=params.name, code=code, error=message)
            return error_result(code, message)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc``, the members of exception groups and the causes, flattened."""
    out: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        out.append(current)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        if current.__cause__ is not None:
            stack.append(current.__cause__)
    return out


def build_proxy(forwarder: Forwarder) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        listed = await forwarder.list_tools()
        return types.ListToolsResult(tools=listed.tools)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await forwarder.call_tool(ctx, params)

    return Server(
        "planexe",
        version=__version__,
        title="PlanExe",
        instructions=f"PlanExe at {forwarder.endpoint}: call prompt_examples first.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def _serve(forwarder: Forwarder) -> None:
    server = build_proxy(forwarder)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def run(args: argparse.Namespace) -> int:
    # stdout is the protocol channel: logs go to stderr, which clients show as the server's log.
    configure_logging("console", "warning")
    # The SDK client warns on every forwarded call that it has not listed the tools itself
    # (each call is a fresh connection); that check is the desktop client's to make.
    logging.getLogger("mcp.client").setLevel(logging.ERROR)
    settings_token = get_settings().api_token
    token = args.token or (settings_token.get_secret_value() if settings_token else None)
    if token:
        register_secret(token)
    forwarder = Forwarder(args.url, token)
    try:
        anyio.run(_serve, forwarder)
    except KeyboardInterrupt:
        pass
    return 0

"""Helpers for the MCP tests: a connected SDK client and its progress notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

TOKEN = "mcp-test-token-4f2a9c"


@dataclass
class Progress:
    """Progress notifications a call received."""

    seen: list[tuple[float, float | None, str | None]] = field(default_factory=list)

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


class Tools:
    """A connected client with two helpers: call expecting success, call expecting a tool error."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def ok(self, name: str, args: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        result = await self.client.call_tool(name, args or {}, **kwargs)
        assert not result.is_error, result
        assert isinstance(result.structured_content, dict)
        return result.structured_content

    async def error(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        result: CallToolResult = await self.client.call_tool(name, args or {})
        assert result.is_error, result
        error = result.structured_content["error"]
        assert set(error) >= {"code", "message"}
        return error


@asynccontextmanager
async def mcp_tools(base_url: str, token: str | None = None, **client_args: Any) -> AsyncIterator[Tools]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(streamable_http_client(f"{base_url}/mcp", http_client=http), **client_args) as client,
    ):
        yield Tools(client)

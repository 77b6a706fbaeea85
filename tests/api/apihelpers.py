"""Helpers for the in-process API tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import httpx
from fastapi import FastAPI

from planexe_api.state import AppState

Scenario = Callable[[httpx.AsyncClient, AppState], Awaitable[None]]


def serve(app: FastAPI, scenario: Scenario) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                await scenario(client, app.state.planexe)

    anyio.run(main)

"""Who asked for a change to a plan, as its events record it.

PlanExe has one shared token, not user accounts, so "who" is what the service
can tell: through which face (``api``, ``mcp``), how the request proved the
token (``token``: the bearer header; ``session``: the dashboard's cookie;
``none``: no token is configured) and the client's address. Never the token.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from planexe_api.auth import AUTH_STATE_KEY


def requested_by(connection: HTTPConnection | None, via: str) -> dict[str, Any]:
    if connection is None:
        return {"via": via, "auth": "none"}
    state = connection.scope.get("state") or {}
    client = connection.client
    return {
        "via": via,
        "auth": state.get(AUTH_STATE_KEY, "none"),
        **({"client": client.host} if client is not None else {}),
    }

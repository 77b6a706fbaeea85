"""Tool results: a success carries the model's JSON, a failure the REST error body.

Kept free of the service's imports: the stdio proxy builds its own errors with it.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from pydantic import BaseModel

from planexe.log import scrub


def error_result(code: str, message: str, **extra: Any) -> types.CallToolResult:
    """``isError: true`` with ``{"error": {"code", "message", ...}}`` as structured content and as text."""
    body = {"error": {"code": code, "message": scrub(message), **extra}}
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(body, ensure_ascii=False))],
        structured_content=body,
        is_error=True,
    )


def ok_result(result: BaseModel) -> types.CallToolResult:
    data = result.model_dump(mode="json")
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(data, ensure_ascii=False))], structured_content=data
    )

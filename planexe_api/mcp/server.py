"""The MCP server: lists the tools, validates arguments, calls handlers, reports errors.

Built on the SDK's low-level ``Server`` rather than ``MCPServer``: arguments are
validated here with the tools' pydantic models, so a bad argument gets the
REST API's ``invalid_request`` wording (``prompt: must not be empty ...``)
instead of the SDK's, and every failure is a tool result with
``isError: true`` whose structured content is ``{"error": {"code", "message"}}``,
the REST error body, so the agent can read and correct it and the session
goes on. Nothing reaches the client as a protocol error but an unknown method.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from planexe import __version__
from planexe.log import get_logger
from planexe_api.db.errors import StoreError
from planexe_api.errors import ApiError, as_api_error, describe_validation_error
from planexe_api.mcp.results import error_result, ok_result
from planexe_api.mcp.tools import TOOLS, TOOLS_BY_NAME, Call, Tool
from planexe_api.state import AppState

log = get_logger(__name__)

INSTRUCTIONS = (
    "PlanExe turns a one-paragraph project idea into a complete project plan (purpose, assumptions, "
    "risks, team, governance, work breakdown, schedule, review, executive summary) by running tens "
    "of LLM steps; a plan takes minutes. Flow: prompt_examples, draft a prompt with the user, "
    "plan_create, plan_wait until it finishes (call again on timeout), then plan_report to read it "
    "or plan_files for the raw outputs. If it fails, plan_status says why and whether plan_resume "
    "will fix it."
)


def _api_error_result(error: ApiError) -> types.CallToolResult:
    extra: dict[str, Any] = dict(error.details)
    if "Retry-After" in error.headers:
        extra["retry_after_s"] = float(error.headers["Retry-After"])
    return error_result(error.code, error.message, **extra)


def _input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with ``anyOf [X, null]`` folded to X for optional fields.

    Omitting an optional argument means null; several clients (and the models behind them)
    handle a plain type far better than a union with null.
    """
    schema = model.model_json_schema()
    for prop in schema.get("properties", {}).values():
        variants = prop.get("anyOf")
        if (
            variants
            and len(variants) == 2
            and {"type": "null"} in variants
            and prop.get("default", 0) is None
        ):
            (kept,) = [v for v in variants if v != {"type": "null"}]
            del prop["anyOf"]
            del prop["default"]
            prop.update(kept)
    schema.pop("title", None)
    schema.pop("description", None)
    return schema


@cache
def tool_list() -> list[types.Tool]:
    return [
        types.Tool(
            name=t.name,
            title=t.title,
            description=t.description,
            input_schema=_input_schema(t.args),
            output_schema=t.result.model_json_schema(),
            annotations=t.annotations,
        )
        for t in TOOLS
    ]


def base_url_of(request: object) -> str:
    """scheme://host[:port] as the client addressed us, for absolute download links."""
    if isinstance(request, Request):
        return str(request.base_url).rstrip("/")
    return ""


async def call_tool(
    state: AppState, tool: Tool, arguments: dict[str, Any] | None, ctx: ServerRequestContext[Any, Any]
) -> types.CallToolResult:
    try:
        args = tool.args.model_validate(arguments or {})
    except ValidationError as exc:
        problems = [describe_validation_error(e) for e in exc.errors()]
        return error_result("invalid_request", "; ".join(problems), errors=problems)

    async def report(progress: float, total: float | None, message: str) -> None:
        await ctx.session.report_progress(progress, total, message)

    request = ctx.request if isinstance(ctx.request, Request) else None
    call = Call(state=state, base_url=base_url_of(ctx.request), report=report, request=request)
    try:
        return ok_result(await tool.handler(call, args))
    except ApiError as exc:
        return _api_error_result(exc)
    except StoreError as exc:
        error = as_api_error(exc)
        log.warning("mcp_tool_store_error", tool=tool.name, error=exc.message)
        return _api_error_result(error)
    except Exception:
        log.exception("mcp_tool_crashed", tool=tool.name)
        return error_result("internal_error", "internal error; see the server log")


def build_server(state: AppState) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def on_call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = TOOLS_BY_NAME.get(params.name)
        if tool is None:
            return error_result(
                "unknown_tool", f"no tool named {params.name!r}; tools: {', '.join(TOOLS_BY_NAME)}"
            )
        return await call_tool(state, tool, params.arguments, ctx)

    return Server(
        "planexe",
        version=__version__,
        title="PlanExe",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=on_call_tool,
    )

"""The Starlette app of the test LLM server (plain Starlette: this is the hot path of benchmarks)."""

from __future__ import annotations

import asyncio
import json
import math
import secrets

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from planexe.llm.server import chat
from planexe.llm.server.faults import Fault, malformed, violate
from planexe.llm.server.options import ServerOptions
from planexe.llm.server.quirks import Quirk, cap, reshape
from planexe.llm.server.state import Admitted, ServerState
from planexe.llm.stand_in import gate_answer, is_safety_gate, wants_refusal
from planexe.llm.strict import violations
from planexe.llm.synth import synthesize


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(chat.error_body(message, kind, code), status_code=status)


def _too_many(message: str, retry_after_s: float) -> JSONResponse:
    response = _error(429, message, "rate_limit_error")
    # Rounded up, as providers do: a client that waits as told is not refused again. (round() first,
    # so 0.05 * 1000 = 50.000000000000007 stays 50.)
    ms = math.ceil(round(max(0.0, retry_after_s) * 1000, 6))
    response.headers["Retry-After"] = f"{ms / 1000:g}"
    return response


def _authorized(request: Request, api_key: str | None) -> bool:
    if not api_key:
        return True
    given = request.headers.get("authorization", "").encode("utf-8", "surrogateescape")
    return secrets.compare_digest(given, f"Bearer {api_key}".encode())


async def _wait_unless_gone(request: Request, seconds: float) -> bool:
    """Sleep ``seconds``; True if the client hung up first (then nobody waits for the answer)."""
    if seconds <= 0:
        return False

    async def disconnect() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnect(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def create_app(options: ServerOptions | None = None) -> Starlette:
    state = ServerState(options or ServerOptions())

    async def chat_completions(request: Request) -> Response:
        """OpenAI chat completions: a synthesized answer to the request's JSON schema."""
        # state.stats is re-read after every await: a reset may replace it meanwhile.
        state.stats.requests += 1
        opts = state.options
        if not _authorized(request, opts.api_key):
            state.stats.rejected_auth += 1
            return _error(401, "invalid or missing API key", "invalid_request_error", "invalid_api_key")
        try:
            call = chat.parse_request(await request.body(), opts.models[0])
        except ValueError as exc:
            state.stats.bad_requests += 1
            return _error(400, f"not a chat completions request: {exc}", "invalid_request_error")
        state.stats.by_model[call.model] = state.stats.by_model.get(call.model, 0) + 1
        state.record(call.model, call.schema_name, call.messages)
        state.stats.with_max_tokens += call.max_tokens is not None
        state.stats.strict_requests += call.strict
        if call.wants_json_schema and opts.reject_json_schema:
            state.stats.rejected_schema += 1
            return _error(400, "response_format json_schema is not supported", "invalid_request_error")
        if call.strict and opts.strict_schemas:
            problems = violations(call.schema, call.schema_name or "schema")
            if problems:
                state.stats.rejected_strict += 1
                return JSONResponse(chat.openai_error(problems[0], "response_format"), status_code=400)
        prompt_tokens = chat.estimate_tokens(sum(len(chat.message_text(m)) for m in call.messages))
        if opts.context_tokens is not None and prompt_tokens > opts.context_tokens:
            state.stats.rejected_context += 1
            return JSONResponse(chat.context_error(prompt_tokens, opts.context_tokens), status_code=400)
        wait = state.check_rate(prompt_tokens)
        if wait is not None:
            return _too_many("rate limit reached for requests or tokens per minute", wait)
        if not state.try_enter():
            return _too_many("too many requests in flight", opts.retry_after_s)
        admitted = state.admit(prompt_tokens)
        try:
            return await _respond(request, call, prompt_tokens, admitted)
        finally:
            state.leave()

    async def _respond(
        request: Request, call: chat.ChatCall, prompt_tokens: int, admitted: Admitted
    ) -> Response:
        opts = state.options
        fault, delay = state.draw()
        if fault is Fault.RATE_LIMITED:
            return _too_many("rate limited (injected)", opts.retry_after_s)
        if await _wait_unless_gone(request, opts.hang_s if fault is Fault.HANG else delay):
            if fault is None:  # a drawn fault is already counted
                state.stats.client_disconnects += 1
            return Response(status_code=499)  # nobody reads it
        if fault is Fault.SERVER_ERROR:
            return _error(500, "internal server error (injected)", "server_error")
        seed = chat.request_seed(call.model, call.messages)
        context = chat.user_context(call.messages)
        try:
            value = {} if call.schema is None else synthesize(call.schema, seed=seed, context=context)
        except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
            if fault is None:
                state.stats.bad_requests += 1
            return _error(400, f"cannot answer this schema: {exc}", "invalid_request_error")
        if is_safety_gate(call.schema) and isinstance(value, dict):
            refuse = opts.refuse_plans or wants_refusal(context)
            if fault is None:
                state.stats.gate_answers["refuse" if refuse else "plan"] += 1
            value = gate_answer(value, refuse=refuse, who="server")
        if fault is Fault.INVALID:
            value = violate(call.schema, value)
        content = json.dumps(value, ensure_ascii=False)
        if fault is Fault.MALFORMED:
            content = malformed(content)
        quirk = None
        if fault is None:
            state.stats.completions_ok += 1
            quirk = state.draw_quirk()
        content, finish = reshape(quirk, content)
        content, was_cut = cap(content, call.max_tokens)
        if was_cut:
            state.stats.cut_at_max_tokens += 1
            finish = "length"
        body = chat.completion(
            call.model, content, prompt_tokens, seed, finish, usage=quirk is not Quirk.NO_USAGE
        )
        answer_tokens = chat.estimate_tokens(len(content))
        state.count_tokens(prompt_tokens, answer_tokens)
        state.add_answer_tokens(admitted, answer_tokens)
        return JSONResponse(body)

    async def list_models(request: Request) -> Response:
        """The configured model names (requests may still name any model)."""
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "planexe"} for m in state.options.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def get_stats(request: Request) -> Response:
        """Counters since start or the last reset."""
        return JSONResponse(state.snapshot())

    async def get_requests(request: Request) -> Response:
        """The chat requests kept since start or the last reset (``record_requests``), oldest first."""
        return JSONResponse({"requests": list(state.recorded)})

    async def reset_stats(request: Request) -> Response:
        """Zero the counters (requests in flight stay counted in ``in_flight``)."""
        state.reset_stats()
        return JSONResponse(state.snapshot())

    async def admin_config(request: Request) -> Response:
        """GET: the options. POST: change any subset of them; a new ``seed`` restarts the draws."""
        if request.method == "POST":
            try:
                update = json.loads(await request.body())
                if not isinstance(update, dict):
                    raise ValueError("the body must be a JSON object")
                new = ServerOptions.model_validate({**state.options.model_dump(), **update})
            except ValidationError as exc:
                errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
                return JSONResponse(
                    {"error": {"message": "invalid options", "details": errors}}, status_code=422
                )
            except ValueError as exc:
                return JSONResponse({"error": {"message": str(exc)}}, status_code=422)
            state.configure(new, reseed="seed" in update)
        return JSONResponse(state.options.public())

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/stats", get_stats, methods=["GET"]),
            Route("/stats/reset", reset_stats, methods=["POST"]),
            Route("/requests", get_requests, methods=["GET"]),
            Route("/admin/config", admin_config, methods=["GET", "POST"]),
        ]
    )

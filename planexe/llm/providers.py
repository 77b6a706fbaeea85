"""Providers turn a ``ChatRequest`` into a ``ChatResponse`` for one model.

``OpenAICompatProvider`` speaks chat completions over httpx to any server of
that protocol; ``OfflineProvider`` answers from templates with no network.
Both raise ``ProviderError`` with a kind the retry policy understands.
"""

from __future__ import annotations

import email.utils
import functools
import json
import ssl
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from planexe.llm.config import STRICT_HOSTS, ModelSpec
from planexe.llm.errors import ContextExceededError, ProviderError
from planexe.llm.sizing import is_context_error
from planexe.llm.stand_in import gate_answer, is_safety_gate, wants_refusal
from planexe.llm.synth import synthesize
from planexe.llm.types import ChatRequest, ChatResponse, ErrorKind
from planexe.log import get_logger, scrub

log = get_logger(__name__)

SCHEMA_IN_PROMPT_INTRO = "Reply with one JSON object that matches this JSON schema:"
_SCHEMA_REFUSAL_HINTS = ("response_format", "json_schema", "schema", "grammar")


class Provider(Protocol):
    spec: ModelSpec

    def sent_messages(self, request: ChatRequest) -> list[dict[str, str]]: ...

    async def complete(self, request: ChatRequest, client: httpx.AsyncClient | None) -> ChatResponse: ...


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        text = str(message or body)
    except (ValueError, AttributeError):
        text = response.text
    return scrub(text[:300])


def _context_window(response: httpx.Response) -> int | None:
    """The window a server names in its refusal (llama.cpp sends ``n_ctx``)."""
    try:
        error = response.json().get("error", {})
        return int(error["n_ctx"]) if isinstance(error, dict) and "n_ctx" in error else None
    except (ValueError, AttributeError, TypeError):
        return None


def _tokens(usage: Any, key: str) -> int:
    try:
        return max(0, int(usage.get(key) or 0))
    except (TypeError, ValueError, AttributeError):
        return 0


def schema_in_prompt(messages: list[dict[str, str]], schema: dict[str, Any]) -> list[dict[str, str]]:
    """``messages`` plus an instruction carrying the schema, for servers that only do JSON mode."""
    block = json.dumps(schema, ensure_ascii=False)
    return [*messages, {"role": "user", "content": f"{SCHEMA_IN_PROMPT_INTRO}\n```json\n{block}\n```"}]


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: httpx would load the CA bundle for every client.
    httpx's own builder, so SSL_CERT_FILE / SSL_CERT_DIR are honoured as before."""
    return httpx.create_ssl_context()


class OpenAICompatProvider:
    """Chat completions over HTTP: OpenAI, OpenRouter, Ollama, LM Studio, vLLM, llama.cpp."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        # "auto" starts with JSON schema and switches for good after one refusal,
        # so a server without schema support costs one extra request per process.
        self.mode = "json_schema" if spec.structured_output in ("auto", "json_schema") else "json_object"
        # Strict mode is dropped for good after one refusal too (the schema is then sent non-strict).
        self.strict = spec.uses_strict
        # OpenAI's own API takes max_completion_tokens (its reasoning models refuse max_tokens);
        # every other server reads max_tokens.
        host = urlsplit(spec.effective_base_url()).hostname
        self.max_tokens_field = "max_completion_tokens" if host in STRICT_HOSTS else "max_tokens"

    def new_client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.spec.api_key}"} if self.spec.api_key else {}
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        return httpx.AsyncClient(
            base_url=self.spec.effective_base_url(),
            headers=headers,
            timeout=httpx.Timeout(self.spec.timeout_s, connect=min(10.0, self.spec.timeout_s)),
            limits=limits,
            transport=transport,
            verify=shared_ssl_context(),
        )

    def sent_messages(self, request: ChatRequest) -> list[dict[str, str]]:
        """The messages as they go over the wire (JSON mode adds the schema)."""
        if self.mode == "json_schema":
            return request.messages
        return schema_in_prompt(request.messages, request.schema)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.spec.model, "temperature": 0.2}
        if request.max_tokens:
            body[self.max_tokens_field] = request.max_tokens
        body["messages"] = self.sent_messages(request)
        if self.mode == "json_schema":
            strict = request.strict and self.strict
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name[:64], "schema": request.schema, "strict": strict},
            }
        else:
            body["response_format"] = {"type": "json_object"}
        return body

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
        try:
            return await client.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise ProviderError(ErrorKind.TIMEOUT, f"no answer within {self.spec.timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise ProviderError(ErrorKind.CONNECT, f"{type(exc).__name__}: {scrub(str(exc))}") from exc

    async def complete(self, request: ChatRequest, client: httpx.AsyncClient | None) -> ChatResponse:
        if client is None:
            async with self.new_client() as own:
                return await self.complete(request, own)
        response = await self._post(client, self._body(request))
        if self._schema_refused(response) and request.strict and self.strict:
            log.warning("llm_strict_schema_refused", model=self.spec.name, error=_error_text(response))
            self.strict = False
            response = await self._post(client, self._body(request))
        if self._schema_refused(response) and self.spec.structured_output == "auto":
            log.warning("llm_json_schema_refused", model=self.spec.name, fallback="json_object")
            self.mode = "json_object"
            response = await self._post(client, self._body(request))
        return self._parse(response)

    def _schema_refused(self, response: httpx.Response) -> bool:
        if response.status_code != 400 or self.mode != "json_schema":
            return False
        text = response.text.lower()
        return not is_context_error(text) and any(hint in text for hint in _SCHEMA_REFUSAL_HINTS)

    def _parse(self, response: httpx.Response) -> ChatResponse:
        status = response.status_code
        if status == 429:
            raise ProviderError(
                ErrorKind.RATE_LIMITED, _error_text(response), retry_after=_retry_after(response.headers)
            )
        if status >= 500:
            raise ProviderError(ErrorKind.SERVER, f"HTTP {status}: {_error_text(response)}")
        if status in (401, 403):
            raise ProviderError(ErrorKind.AUTH, f"HTTP {status}: check the API key ({_error_text(response)})")
        if status >= 400:
            text = _error_text(response)
            if status in (400, 413) and is_context_error(text):
                raise ContextExceededError(text, window=_context_window(response))
            raise ProviderError(ErrorKind.BAD_REQUEST, f"HTTP {status}: {text}")
        try:
            body = response.json()
            choice = body["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError(ErrorKind.SERVER, "response is not a chat completion") from exc
        if not isinstance(content, str):
            raise ProviderError(ErrorKind.INVALID_OUTPUT, "the answer has no text content")
        usage = body.get("usage")
        return ChatResponse(
            content=content,
            model=str(body.get("model") or self.spec.model),
            prompt_tokens=_tokens(usage, "prompt_tokens"),
            completion_tokens=_tokens(usage, "completion_tokens"),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            usage_reported=isinstance(usage, dict) and "completion_tokens" in usage,
        )


class OfflineProvider:
    """The embedded default: a deterministic template generator, not a language model.

    The answer is derived from the request's text (the project prompt and the
    earlier steps quoted in it), so the same prompt always gives the same plan
    and different prompts give different plans.
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def sent_messages(self, request: ChatRequest) -> list[dict[str, str]]:
        return request.messages

    async def complete(self, request: ChatRequest, client: httpx.AsyncClient | None) -> ChatResponse:
        context = "\n".join(m["content"] for m in request.messages if m.get("role") == "user")
        value = synthesize(
            request.schema, seed=f"{request.step}|{request.schema_name}|{context}", context=context
        )
        if is_safety_gate(request.schema):
            # A template must never refuse an ordinary prompt by drawing "refuse" (stand_in.py).
            value = gate_answer(value, refuse=wants_refusal(context), who="offline")
        content = json.dumps(value, ensure_ascii=False)
        return ChatResponse(
            content=content,
            model=self.spec.model,
            prompt_tokens=sum(len(m["content"]) for m in request.messages) // 4,
            completion_tokens=len(content) // 4,
        )


def make_provider(spec: ModelSpec) -> OpenAICompatProvider | OfflineProvider:
    return OfflineProvider(spec) if spec.is_offline else OpenAICompatProvider(spec)

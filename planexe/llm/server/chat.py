"""Reading an OpenAI chat request and writing the answer body."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

# The JSON-mode contract with the client: it appends this line and then the schema as a
# fenced ```json block to its last user message.
SCHEMA_PROMPT_MARKER = "Reply with one JSON object that matches this JSON schema:"
_EMBEDDED = re.compile(re.escape(SCHEMA_PROMPT_MARKER) + r"\s*```json[ \t]*\r?\n(.*?)```", re.S)


@dataclass(frozen=True)
class ChatCall:
    model: str
    messages: list[Any]
    wants_json_schema: bool  # response_format json_schema, as opposed to json_object or text
    schema: dict[str, Any] | None  # the schema to answer; None: answer {}
    max_tokens: int | None = None  # max_tokens or max_completion_tokens, when sent
    strict: bool = False  # json_schema.strict
    schema_name: str = ""  # json_schema.name


def parse_request(raw: bytes, default_model: str) -> ChatCall:
    """The parts of an OpenAI request body we use; ``ValueError`` if it is not one."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        raise ValueError("body must be an object with a 'messages' list")
    response_format = body.get("response_format") or {}
    if not isinstance(response_format, dict):
        raise ValueError("response_format must be an object")
    model = str(body.get("model") or default_model)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError("max_tokens must be a positive integer")
    if response_format.get("type") != "json_schema":
        # json_object and plain text: the schema, if any, is in the prompt.
        return ChatCall(model, messages, False, embedded_schema(messages), max_tokens)
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise ValueError("response_format.json_schema.schema must be an object")
    return ChatCall(
        model, messages, True, schema, max_tokens, spec.get("strict") is True, str(spec.get("name") or "")
    )


def message_text(message: Any) -> str:
    """A message's text; OpenAI also allows a list of typed parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def embedded_schema(messages: list[Any]) -> dict[str, Any] | None:
    """The last schema fenced after ``SCHEMA_PROMPT_MARKER`` in any message."""
    found: dict[str, Any] | None = None
    for message in messages:
        for block in _EMBEDDED.findall(message_text(message)):
            try:
                schema = json.loads(block)
            except ValueError:
                continue
            if isinstance(schema, dict):
                found = schema
    return found


def user_context(messages: list[Any]) -> str:
    """The user messages' text, without an embedded schema (its keywords are not the topic)."""
    texts = [message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return "\n\n".join(_EMBEDDED.sub(" ", t) for t in texts)


def request_seed(model: str, messages: list[Any]) -> str:
    material = json.dumps([model, messages], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / 4)


def completion(
    model: str, content: str, prompt_tokens: int, seed: str, finish_reason: str = "stop", usage: bool = True
) -> dict[str, Any]:
    completion_tokens = estimate_tokens(len(content))
    body: dict[str, Any] = {
        "id": f"chatcmpl-{seed[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
        ],
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return body


def openai_error(message: str, param: str | None = None) -> dict[str, Any]:
    """A 400 body as OpenAI's API writes it."""
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}


def context_error(prompt_tokens: int, window: int) -> dict[str, Any]:
    """llama.cpp's 400 for a prompt longer than the slot's context."""
    return {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": prompt_tokens,
            "n_ctx": window,
        }
    }


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind}
    if code:
        error["code"] = code
    return {"error": error}

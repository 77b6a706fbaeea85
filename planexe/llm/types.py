"""Plain data passed between the executor and the providers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]  # OpenAI chat format: {"role": ..., "content": ...}
    schema: dict[str, Any]  # JSON schema the answer must satisfy
    schema_name: str  # a short identifier, sent as the json_schema name
    step: str = ""  # pipeline step that asked, for logs and for the offline generator's seed


@dataclass(frozen=True)
class ChatResponse:
    content: str  # the model's raw text; the executor parses and validates it
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"  # no answer within the model's timeout
    CONNECT = "connect"  # could not reach the server
    RATE_LIMITED = "rate_limited"  # HTTP 429
    SERVER = "server"  # HTTP 5xx or an unreadable response body
    INVALID_OUTPUT = "invalid_output"  # answer is not JSON, or fails the schema
    BAD_REQUEST = "bad_request"  # HTTP 400/404/422: this model cannot serve the request
    AUTH = "auth"  # HTTP 401/403


@dataclass
class CallRecord:
    """One attempt against one model, reported to the executor's listeners."""

    step: str
    model: str
    attempt: int
    duration_s: float
    outcome: str  # "ok" or an ErrorKind value
    prompt_tokens: int = 0
    completion_tokens: int = 0
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

"""Plain data passed between the executor and the providers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]  # OpenAI chat format: {"role": ..., "content": ...}
    schema: dict[str, Any]  # JSON schema the answer must satisfy (already in strict form when strict)
    schema_name: str  # a short identifier, sent as the json_schema name
    step: str = ""  # pipeline step that asked, for logs and for the offline generator's seed
    max_tokens: int | None = None  # cap on the answer's length; None: the server's own
    strict: bool = False  # ask for OpenAI's strict structured output


@dataclass(frozen=True)
class ChatResponse:
    content: str  # the model's raw text; the executor parses and validates it
    model: str  # the model id the server says answered
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "length": cut off at max_tokens or the context's end
    usage_reported: bool = True  # False: the server sent no usage; the counts are estimates


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"  # no answer within the model's timeout
    CONNECT = "connect"  # could not reach the server
    RATE_LIMITED = "rate_limited"  # HTTP 429
    SERVER = "server"  # HTTP 5xx or an unreadable response body
    INVALID_OUTPUT = "invalid_output"  # answer is not JSON, or fails the schema
    TRUNCATED = "truncated"  # the answer was cut off (finish_reason "length") before it was complete
    CONTEXT_EXCEEDED = "context_exceeded"  # the prompt and answer do not fit the model's context window
    BAD_REQUEST = "bad_request"  # HTTP 400/404/422: this model cannot serve the request
    AUTH = "auth"  # HTTP 401/403


@dataclass
class CallRecord:
    """One attempt against one model, reported to the executor's listeners."""

    step: str
    model: str  # the model id ("openai/gpt-4o-mini"), as configured for the model that was asked
    attempt: int
    duration_s: float
    outcome: str  # "ok" or an ErrorKind value
    prompt_tokens: int = 0
    completion_tokens: int = 0
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    model_name: str = ""  # the config entry's name ("env"), when it differs from the model id
    repairs: tuple[str, ...] = ()  # what was removed around the JSON (see repair.Repair)
    max_tokens: int | None = None  # the cap this attempt sent
    prompt_tokens_est: int = 0  # estimated before sending
    cost_usd: float | None = None  # None: no prices configured for the model
    usage_estimated: bool = False  # the server reported no usage; the token counts are estimates
    cached: bool = False  # an answer kept from an earlier run, served without a call (costs nothing now)


@dataclass
class SessionUsage:
    """What the calls made inside one executor session (one pipeline task) used."""

    models: set[str] = field(default_factory=set)  # ids of the models that gave an accepted answer
    calls: int = 0  # accepted answers
    attempts: int = 0  # every attempt, failed ones included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: no attempt had a price
    reused: int = 0  # of ``calls``: answers kept from an earlier run, counted at what they cost then

    def add(self, record: CallRecord) -> None:
        self.attempts += 1
        if record.outcome == "ok":
            self.calls += 1
            self.models.add(record.model)
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        if record.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + record.cost_usd

    def add_reused(
        self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> None:
        """An answer an earlier run paid for: the step's output still says what it cost and who made it."""
        self.calls += 1
        self.reused += 1
        self.models.add(model)
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost_usd

    def summary(self) -> dict[str, Any]:
        """The counts, for an output's envelope and the task's event (the models are listed there)."""
        out: dict[str, Any] = {
            "calls": self.calls,
            "attempts": self.attempts,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
        if self.cost_usd is not None:
            out["cost_usd"] = round(self.cost_usd, 8)
        if self.reused:
            out["reused_calls"] = self.reused
        return out

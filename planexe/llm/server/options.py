"""Options of the test LLM server, shared by the CLI, ``/admin/config`` and the test handle."""

from __future__ import annotations

import math
import random
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planexe.llm.stand_in import REFUSE_MARKER

MAX_DELAY_S = 3600.0  # no sampled latency is longer than this


class Latency(NamedTuple):
    kind: Literal["fixed", "lognormal"]
    seconds: float  # fixed delay, or the median of the log-normal
    sigma: float = 0.0  # spread of the log-normal; unused for fixed

    def sample(self, rng: random.Random, scale: float) -> float:
        if self.kind == "fixed" or self.sigma == 0 or self.seconds == 0:
            base = self.seconds
        else:
            base = rng.lognormvariate(math.log(self.seconds), self.sigma)
        return min(base * scale, MAX_DELAY_S)


def parse_latency(text: str) -> Latency:
    """``fixed:SECONDS`` or ``lognormal:MEDIAN:SIGMA``; a bare number means fixed."""
    parts = text.strip().split(":")
    try:
        numbers = [float(p) for p in parts[1:]] if parts[0] in ("fixed", "lognormal") else [float(parts[0])]
    except ValueError as exc:
        raise ValueError(f"not a latency: {text!r} (use fixed:0.2 or lognormal:2.0:0.5)") from exc
    if parts[0] == "lognormal":
        if len(numbers) != 2 or numbers[0] <= 0 or numbers[1] < 0:
            raise ValueError("lognormal latency is lognormal:MEDIAN:SIGMA with MEDIAN > 0 and SIGMA >= 0")
        return Latency("lognormal", numbers[0], numbers[1])
    if len(numbers) != 1 or not 0 <= numbers[0] <= MAX_DELAY_S:
        raise ValueError(f"fixed latency is fixed:SECONDS with 0 <= SECONDS <= {MAX_DELAY_S:g}")
    return Latency("fixed", numbers[0])


def _rate(what: str) -> float:
    return Field(default=0.0, ge=0.0, le=1.0, description=f"Share of chat requests answered with {what}.")


class ServerOptions(BaseModel):
    """Everything that shapes the server's answers; all can change while it runs."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(
        default_factory=lambda: ["planexe-test"],
        min_length=1,
        description="Model names listed by /v1/models; requests may name any model.",
    )
    latency: str = Field(default="fixed:0", description="fixed:SECONDS or lognormal:MEDIAN:SIGMA.")
    scale: float = Field(default=1.0, ge=0.0, le=1000.0, description="Multiplies every sampled latency.")
    seed: int = Field(default=0, description="Seed of the fault and latency draws; setting it restarts them.")
    rate_429: float = _rate("HTTP 429 and a Retry-After header")
    rate_500: float = _rate("HTTP 500")
    rate_hang: float = _rate("a delay of hang_s before a normal answer, so the client times out")
    rate_malformed: float = _rate("content that is not valid JSON")
    rate_invalid: float = _rate("valid JSON that breaks the schema")
    rate_fenced: float = _rate("the JSON inside a ```json fence")
    rate_think: float = _rate("a <think>...</think> block before the JSON")
    rate_prose: float = _rate("a sentence before and after the JSON")
    rate_truncated: float = _rate('half the JSON and finish_reason "length"')
    rate_no_usage: float = _rate('a body without "usage"')
    hang_s: float = Field(
        default=30.0, ge=0.0, le=MAX_DELAY_S, description="Delay of a hanging request, seconds."
    )
    retry_after_s: float = Field(
        default=0.05, ge=0.0, le=MAX_DELAY_S, description="Retry-After of a 429, seconds."
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, description="Requests in flight at once; more are answered 429 (None: no limit)."
    )
    requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Requests admitted in any window of limit_window_s; more are answered 429 with the "
        "Retry-After of the next free slot (None: no limit).",
    )
    tokens_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Prompt plus answer tokens of the requests admitted in any window of limit_window_s; "
        "a request is refused while they have reached it (None: no limit).",
    )
    limit_window_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="The window of requests_per_minute and tokens_per_minute, seconds (tests shorten it).",
    )
    reject_json_schema: bool = Field(
        default=False, description="Answer 400 to response_format json_schema, like servers without it."
    )
    strict_schemas: bool = Field(
        default=False,
        description="Check schemas sent with strict: true as OpenAI does, answering its 400 to one "
        "that strict mode does not accept.",
    )
    context_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Context window: a prompt longer than this (estimated tokens) gets llama.cpp's 400 "
        "(None: no limit).",
    )
    record_requests: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="Keep the last N chat requests (model, schema name and messages) for GET /requests, "
        "so a test can read the prompts it caused; 0: keep none. Cleared with the counters.",
    )
    refuse_plans: bool = Field(
        default=False,
        description="Answer the safety gate's question with a refusal, so the plans asking it end "
        f"refused (off: every plan goes ahead, unless its prompt holds {REFUSE_MARKER}).",
    )
    api_key: str | None = Field(
        default=None, min_length=1, repr=False, description="When set, chat requests need 'Bearer <key>'."
    )

    @field_validator("latency")
    @classmethod
    def _check_latency(cls, value: str) -> str:
        spec = parse_latency(value)
        return f"{spec.kind}:{spec.seconds:g}" + (f":{spec.sigma:g}" if spec.kind == "lognormal" else "")

    @property
    def latency_spec(self) -> Latency:
        return parse_latency(self.latency)

    def public(self) -> dict[str, object]:
        """The options as JSON, with the API key masked."""
        data = self.model_dump()
        if data["api_key"]:
            data["api_key"] = "***"
        return data

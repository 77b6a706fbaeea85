"""What the executor tells a permit source, and the source's interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from planexe.llm.permits.gate import Outcome
from planexe.llm.permits.limits import ProviderLimits


@dataclass(frozen=True)
class PermitRequest:
    key: str  # limit_key() of the model
    limits: ProviderLimits  # as configured for that key
    slack: int = 0  # rounds the step may be late without delaying the plan; 0 on the critical path
    tokens: int = 0  # estimated prompt plus answer tokens
    since: float = 0.0  # time.monotonic() when the call first asked (kept across refusals)


@dataclass(frozen=True)
class Report:
    outcome: Outcome
    tokens_used: int | None = None  # actual prompt plus answer tokens, when the provider said
    retry_after: float | None = None  # a refusal's Retry-After, seconds


class Held(Protocol):
    """A granted permit, as the executor sees it."""

    level: int


class PermitSource(Protocol):
    async def acquire(self, request: PermitRequest) -> Held: ...

    async def release(self, held: Held, report: Report) -> None: ...

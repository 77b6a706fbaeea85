"""Retry policy as data: given an error and the attempt number, what next.

Two budgets: real failures (timeouts, 5xx, invalid answers) spend the attempts
of ``max_attempts``; a refusal that means "too many" (a 429, an overloaded 503
or 529) spends none. The refused call waits at the permit gate, which cools
the whole model down and lowers its calls in flight for everyone sharing it,
and is given up only after ``rate_limit_patience_s`` without a single success.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from planexe.llm.errors import ProviderError
from planexe.llm.types import ErrorKind
from planexe.settings import Settings

# A 503 or 529 is "too many" when it says so; a 429 always is, unless it is about money.
_OVERLOADED = re.compile(
    r"^HTTP (529\b|503\b.*(too many|overload|rate.?limit|capacity|try again later))", re.I | re.S
)
_OUT_OF_QUOTA = re.compile(r"insufficient_quota|exceeded your current quota|billing", re.I)


def is_refusal(error: ProviderError) -> bool:
    """True for an answer that means "too many, slow down", not a failure of the call."""
    if error.kind is ErrorKind.RATE_LIMITED:
        # Out of credit is answered 429 too, and waiting does not end it: a real failure.
        return not _OUT_OF_QUOTA.search(error.detail)
    return error.kind is ErrorKind.SERVER and bool(_OVERLOADED.search(error.detail))


@dataclass(frozen=True)
class Decision:
    retry: bool  # False: give up on this model and move to the next one
    delay_s: float = 0.0
    reason: str = ""
    spends_attempt: bool = True  # False for a refusal: the attempts are kept for real failures


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # per model
    base_delay_s: float = 0.5  # first backoff; doubles per attempt
    max_delay_s: float = 20.0  # cap on any delay, a server's Retry-After included
    jitter: float = 0.5  # fraction of the delay drawn at random, so a batch does not retry in lockstep
    rate_limit_patience_s: float = 900.0  # refusals without a single success for this long: give up

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.llm_max_attempts,
            base_delay_s=settings.llm_retry_base_delay_s,
            max_delay_s=settings.llm_retry_max_delay_s,
            rate_limit_patience_s=settings.llm_rate_limit_patience_s,
        )

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        raw = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        spread = raw * self.jitter
        return max(0.0, raw - spread + (rng or random).random() * spread)

    def decide(
        self,
        error: ProviderError,
        attempt: int,
        rng: random.Random | None = None,
        *,
        refused_for_s: float = 0.0,
    ) -> Decision:
        """``refused_for_s``: how long this model has refused the call without a success in between."""
        if is_refusal(error):
            if refused_for_s >= self.rate_limit_patience_s:
                return Decision(
                    False,
                    reason=f"refused as too many for {refused_for_s:.0f}s without a single success "
                    f"(PLANEXE_LLM_RATE_LIMIT_PATIENCE_S={self.rate_limit_patience_s:g})",
                    spends_attempt=False,
                )
            # The permit gate waits out the Retry-After (or a backoff) for everyone sharing the model.
            return Decision(True, 0.0, reason="refused", spends_attempt=False)
        if not error.retryable:
            return Decision(False, reason=f"{error.kind.value} is not retryable")
        if attempt >= self.max_attempts:
            return Decision(False, reason=f"{self.max_attempts} attempts used")
        if error.kind is ErrorKind.TRUNCATED:
            # Not the server's fault: waiting changes nothing, more room does (the executor gives it).
            return Decision(True, 0.0, reason="more room")
        if error.retry_after is not None:
            # The server said when; never earlier, but never beyond our cap either.
            return Decision(True, min(self.max_delay_s, error.retry_after), reason="retry-after")
        return Decision(True, self.backoff(attempt, rng), reason="backoff")

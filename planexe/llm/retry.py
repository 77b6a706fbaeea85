"""Retry policy as data: given an error and the attempt number, what next."""

from __future__ import annotations

import random
from dataclasses import dataclass

from planexe.llm.errors import ProviderError
from planexe.llm.types import ErrorKind
from planexe.settings import Settings


@dataclass(frozen=True)
class Decision:
    retry: bool  # False: give up on this model and move to the next one
    delay_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # per model
    base_delay_s: float = 0.5  # first backoff; doubles per attempt
    max_delay_s: float = 20.0  # cap on any delay, a server's Retry-After included
    jitter: float = 0.5  # fraction of the delay drawn at random, so a batch does not retry in lockstep

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.llm_max_attempts,
            base_delay_s=settings.llm_retry_base_delay_s,
            max_delay_s=settings.llm_retry_max_delay_s,
        )

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        raw = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        spread = raw * self.jitter
        return max(0.0, raw - spread + (rng or random).random() * spread)

    def decide(self, error: ProviderError, attempt: int, rng: random.Random | None = None) -> Decision:
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

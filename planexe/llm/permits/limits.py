"""What a provider allows one key: calls in flight, requests and tokens per minute.

Models that reach the same server with the same model id and the same API key
share one set of limits (``limit_key``); ``limit_group`` in the config joins
several models under one key's limits, as providers count them per key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from planexe.llm.config import ModelSpec

WINDOW_S = 60.0  # a provider's "per minute"
# Our window is a little longer than the provider's: a request we start at the very
# end of our window reaches the server a few milliseconds later, when its window may
# still hold the request that ours just let go.
WINDOW_MARGIN_S = 1.0


@dataclass(frozen=True)
class ProviderLimits:
    """Configured limits; None means the provider has not told us (the adaptive limit still applies)."""

    max_in_flight: int | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def any(self) -> bool:
        return any(
            v is not None for v in (self.max_in_flight, self.requests_per_minute, self.tokens_per_minute)
        )

    def as_dict(self) -> dict[str, int | None]:
        return {
            "max_in_flight": self.max_in_flight,
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
        }

    @classmethod
    def of(cls, spec: ModelSpec) -> ProviderLimits:
        return cls(spec.max_in_flight, spec.requests_per_minute, spec.tokens_per_minute)


def limit_key(spec: ModelSpec) -> str:
    """Who the provider counts a call against: the group, or server + model id + key.

    A digest, so the key never carries the API key itself into a socket, a log or a table.
    """
    if spec.is_offline:
        return "offline"
    if spec.limit_group:
        material = f"group\0{spec.limit_group}"
    else:
        material = f"{spec.effective_base_url()}\0{spec.model}\0{spec.api_key or ''}"
    return hashlib.sha256(material.encode()).hexdigest()[:20]

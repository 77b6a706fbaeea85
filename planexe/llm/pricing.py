"""What a call cost, from the model's configured prices (USD per million tokens)."""

from __future__ import annotations

from planexe.llm.config import ModelSpec

PER = 1_000_000  # prices are per million tokens


def call_cost(spec: ModelSpec, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for one attempt; None when the model has no prices (its cost is unknown, not zero).

    Failed attempts that consumed tokens cost money too, so every attempt is priced.
    The offline generator is free.
    """
    if spec.is_offline:
        return 0.0
    if not spec.priced:
        return None
    cost = (
        prompt_tokens * (spec.input_usd_per_mtok or 0.0)
        + completion_tokens * (spec.output_usd_per_mtok or 0.0)
    ) / PER
    return round(cost, 8)

"""How real models and servers answer, on purpose: the quirk draw and the reshaped answers.

Each quirk wraps or cuts a correct answer the way some real model or server does, so
the client's repair and truncation handling can be tested through the real HTTP path.
"""

from __future__ import annotations

import random
from enum import StrEnum

from planexe.llm.server.options import ServerOptions

CHARS_PER_TOKEN = 4  # the server's own token estimate (see chat.estimate_tokens)


class Quirk(StrEnum):
    FENCED = "fenced"  # the JSON inside a ```json fence, as chat models in JSON mode often answer
    THINK = "think"  # a <think>...</think> block first, as reasoning models behind Ollama send
    PROSE = "prose"  # a sentence before and after the JSON
    TRUNCATED = "truncated"  # the first half only, finish_reason "length", as at a token limit
    NO_USAGE = "no_usage"  # a body without "usage", as some proxies and local servers send


def rates(options: ServerOptions) -> list[tuple[Quirk, float]]:
    return [
        (Quirk.FENCED, options.rate_fenced),
        (Quirk.THINK, options.rate_think),
        (Quirk.PROSE, options.rate_prose),
        (Quirk.TRUNCATED, options.rate_truncated),
        (Quirk.NO_USAGE, options.rate_no_usage),
    ]


def draw_quirk(options: ServerOptions, rng: random.Random) -> Quirk | None:
    """One draw over stacked rates, taken only when a quirk is on, so runs without quirks keep
    the fault and latency sequence they always had."""
    table = rates(options)
    if not any(rate > 0 for _, rate in table):
        return None
    draw, edge = rng.random(), 0.0
    for quirk, rate in table:
        edge += rate
        if rate > 0 and draw < edge:
            return quirk
    return None


def reshape(quirk: Quirk | None, content: str) -> tuple[str, str]:
    """The answer text and finish_reason for ``quirk``."""
    if quirk is Quirk.FENCED:
        return f"```json\n{content}\n```", "stop"
    if quirk is Quirk.THINK:
        return f"<think>\nThe user wants one JSON object. I will write it now.\n</think>\n\n{content}", "stop"
    if quirk is Quirk.PROSE:
        return f"Sure! Here is the JSON you asked for:\n{content}\nLet me know if you need changes.", "stop"
    if quirk is Quirk.TRUNCATED:
        return content[: max(1, len(content) // 2)], "length"
    return content, "stop"


def cap(content: str, max_tokens: int | None) -> tuple[str, bool]:
    """``content`` cut at ``max_tokens`` (by the server's estimate); True if it was cut."""
    if max_tokens is None or len(content) <= max_tokens * CHARS_PER_TOKEN:
        return content, False
    return content[: max_tokens * CHARS_PER_TOKEN], True

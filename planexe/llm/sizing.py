"""How big a call is before it is sent: prompt tokens, the answer's cap, the context it needs.

Tokens are estimated from characters (no tokenizer ships with PlanExe): English text
and JSON run 3.5-4.5 characters a token in the tokenizers of the models people use,
so ``CHARS_PER_TOKEN`` errs high; a character outside ASCII counts as a token of its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from planexe.llm.config import ModelSpec
from planexe.llm.schema_bounds import max_answer_tokens

CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD_TOKENS = 4  # role markers of a chat template, per message
MIN_ANSWER_TOKENS = 256  # a window with less room than this for the answer is too small
GROWTH = 2  # a truncated answer is retried with this many times the room

# How servers say the prompt does not fit: llama.cpp ("exceeds the available context size",
# exceed_context_size_error), OpenAI and vLLM ("maximum context length", context_length_exceeded),
# LM Studio ("context length"), OpenRouter (passes the provider's text on).
_CONTEXT_ERROR = re.compile(
    r"context[ _](size|length|window)|context_length_exceeded|exceed_context|too many tokens|"
    r"prompt is too long",
    re.I,
)
CONTEXT_FIX = (
    "raise the server's context (planexe local-llm --ctx, llama-server -c, Ollama num_ctx or "
    "OLLAMA_CONTEXT_LENGTH, LM Studio's context length), or use a model with a larger window"
)


def estimate_tokens(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def prompt_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """Estimated tokens of a chat prompt."""
    return sum(estimate_tokens(str(m.get("content") or "")) + MESSAGE_OVERHEAD_TOKENS for m in messages) + 3


class PromptScale:
    """How many more tokens a model's server counts than ``estimate_tokens``: learnt from the usage
    of its answers, so the window check sees prompts at the model's own size.

    The estimate is right for the tokenizers of large models on English text, and low for a small
    vocabulary on text of digits and repeats: SmolLM2 counted 1.5 times as many tokens on the late
    prompts of its own plan (docs/llm-providers.md). The scale is the largest ratio seen, never below
    1 (an estimate that errs high is kept), and learnt only from prompts long enough that the chat
    template does not dominate them.
    """

    MIN_PROMPT = 256  # estimated tokens: below this, template tokens swing the ratio
    MAX_SCALE = 4.0  # a ratio past this is a server that counts something else

    def __init__(self) -> None:
        self.scale = 1.0

    def learn(self, estimated: int, counted: int) -> None:
        if estimated >= self.MIN_PROMPT and counted > 0:
            self.scale = max(self.scale, min(self.MAX_SCALE, counted / estimated))

    def apply(self, estimated: int) -> int:
        return math.ceil(estimated * self.scale)


def is_context_error(text: str) -> bool:
    return bool(_CONTEXT_ERROR.search(text))


def context_message(step: str, prompt: int, answer: int, window: int | None, server: str = "") -> str:
    """What ``context_exceeded`` says: the step, the sizes, the window and the fix."""
    where = f"step {step or '?'}: "
    need = f"the prompt (about {prompt:,} tokens) and its answer (up to {answer:,})"
    have = f"the model's context window of {window:,} tokens" if window else "the model's context window"
    said = f" (server: {server})" if server else ""
    return f"{where}{need} do not fit {have}{said}; {CONTEXT_FIX}"


def answer_cap(spec: ModelSpec, schema: dict[str, Any]) -> int:
    """The ``max_tokens`` a first attempt sends: the model's override, else the schema's bound."""
    return spec.max_tokens or max_answer_tokens(schema)


def fit_to_window(spec: ModelSpec, wanted: int, prompt: int) -> int | None:
    """``wanted`` capped to what the model's declared window leaves after the prompt; None if that
    is less than ``MIN_ANSWER_TOKENS`` (the call cannot fit)."""
    if not spec.context_window:
        return wanted
    room = spec.context_window - prompt
    if room < min(wanted, MIN_ANSWER_TOKENS):
        return None
    return min(wanted, room)


def more_room(spec: ModelSpec, sent: int) -> int:
    """The cap for a retry after a truncated answer: ``GROWTH`` times more unless the model's
    ``max_tokens`` is set (a provider may refuse more than that)."""
    return sent if spec.max_tokens else sent * GROWTH

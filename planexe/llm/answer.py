"""Turn a model's answer into a validated value, or say exactly why it is not one.

Order: the text as sent; then, if that fails, the JSON found inside it (``repair``).
An answer cut off at ``finish_reason: "length"`` that still does not validate is
``truncated``, not ``invalid_output``: the remedy is more room, not a correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from planexe.llm.errors import ProviderError
from planexe.llm.repair import extract_json
from planexe.llm.types import ChatResponse, ErrorKind

T = TypeVar("T", bound=BaseModel)
FEEDBACK_ERRORS = 8  # validation errors quoted back to the model


@dataclass(frozen=True)
class Accepted(Generic[T]):
    value: T
    repairs: tuple[str, ...]  # Repair values, in the order applied


def feedback(exc: Exception) -> str:
    """Validation errors as one line the model can act on."""
    if isinstance(exc, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in exc.errors()[:FEEDBACK_ERRORS]
        ]
        return "; ".join(problems)
    return str(exc)[:300]


def accept(response: ChatResponse, output_type: type[T], max_tokens: int | None) -> Accepted[T]:
    """The validated value of ``response``; raises ``ProviderError`` (invalid_output or truncated)."""
    try:
        return Accepted(output_type.model_validate_json(response.content), ())
    except (ValidationError, ValueError) as first:
        error: Exception = first
    extracted = extract_json(response.content)
    if extracted is not None and extracted.repairs:
        try:
            value = output_type.model_validate_json(extracted.text)
            return Accepted(value, tuple(r.value for r in extracted.repairs))
        except (ValidationError, ValueError) as second:
            error = second  # the errors of the JSON itself say more than "not JSON" does
    if response.finish_reason == "length":
        cap = f"{max_tokens:,} tokens" if max_tokens else "the server's token limit"
        raise ProviderError(
            ErrorKind.TRUNCATED,
            f"the answer was cut off at {cap} (finish_reason length, {len(response.content):,} characters "
            "received): raise the model's max_tokens, or the server's context "
            "(planexe local-llm --ctx, Ollama num_ctx)",
        ) from error
    raise ProviderError(ErrorKind.INVALID_OUTPUT, feedback(error)) from error

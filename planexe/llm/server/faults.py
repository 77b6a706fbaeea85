"""What can go wrong on purpose: the fault draw and the broken answers."""

from __future__ import annotations

import json
import random
from enum import StrEnum
from typing import Any

from planexe.llm.server.options import ServerOptions


class Fault(StrEnum):
    RATE_LIMITED = "429"  # HTTP 429 with Retry-After, answered at once
    SERVER_ERROR = "500"  # HTTP 500 after the usual latency
    HANG = "hang"  # hang_s of silence, then a normal answer
    MALFORMED = "malformed"  # HTTP 200, content is not JSON
    INVALID = "invalid"  # HTTP 200, JSON that breaks the schema


def draw_fault(options: ServerOptions, rng: random.Random) -> Fault | None:
    """One draw per request over stacked rates, so each rate is exact while they sum to at most 1.

    Above 1 the kinds listed first in ``Fault`` win.
    """
    draw = rng.random()
    edge = 0.0
    for fault, rate in (
        (Fault.RATE_LIMITED, options.rate_429),
        (Fault.SERVER_ERROR, options.rate_500),
        (Fault.HANG, options.rate_hang),
        (Fault.MALFORMED, options.rate_malformed),
        (Fault.INVALID, options.rate_invalid),
    ):
        edge += rate
        if rate > 0 and draw < edge:
            return fault
    return None


def malformed(content: str) -> str:
    """The answer cut in half, as when a model runs out of tokens."""
    cut = content[: max(1, len(content) // 2)]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return f"Sure! Here is the JSON you asked for: {cut}"


def _root(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}))
    return schema


def violate(schema: dict[str, Any] | None, value: Any) -> Any:
    """Valid JSON that ``schema`` rejects: required properties missing, else the wrong type."""
    required = _root(schema).get("required") if schema else None
    if isinstance(value, dict) and required:
        return {k: v for k, v in value.items() if k not in required}
    return {"unexpected": value} if isinstance(value, list) else [value]

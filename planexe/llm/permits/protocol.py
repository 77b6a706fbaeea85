"""The permit broker's wire format: one JSON object per line over a Unix stream socket.

client -> broker
    {"op": "hello", "plan": PLAN_ID}                            first, once
    {"op": "acquire", "id": N, "key": K, "limits": {...}, "slack": S, "tokens": T, "since": M}
    {"op": "release", "id": N, "outcome": "ok"|"refused"|"failed", "tokens": T|null, "retry_after": R|null}
    {"op": "cancel", "id": N}                                  the caller gave up waiting
broker -> client
    {"op": "grant", "id": N, "level": L}

``since`` is ``time.monotonic()``, the same clock for every process of one host.
Closing the connection (a pipeline that exits or is killed) releases every permit
it held and withdraws every request it had waiting, at once.
"""

from __future__ import annotations

import json
from typing import Any

from planexe.llm.permits.limits import ProviderLimits

MAX_LINE = 64 * 1024  # no message is anywhere near this; a longer line is a broken peer


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ValueError("not a permit message")
    return message


def limits_from(data: Any) -> ProviderLimits:
    data = data if isinstance(data, dict) else {}

    def positive(name: str) -> int | None:
        value = data.get(name)
        return value if isinstance(value, int) and value > 0 else None

    return ProviderLimits(
        positive("max_in_flight"), positive("requests_per_minute"), positive("tokens_per_minute")
    )

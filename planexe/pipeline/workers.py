"""How many Luigi workers to run.

Precedence: an explicit ``--workers`` or a valid ``LUIGI_WORKERS`` in the
environment (the service injects 10 unless the operator set a value) > this
pipeline's own fallback of 10. Unset is the normal case and gives 10 quietly.
Malformed values fall back with a warning, and any effective value other than
10 is a warning: 10 is what the DAG's width and the memory budget were sized
for. The service applies the same rule (``resolve_workers(None, environ)``)
to decide what it injects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

RECOMMENDED_WORKERS = 10
MAX_WORKERS = 64
ENV_VAR = "LUIGI_WORKERS"


@dataclass(frozen=True)
class WorkerChoice:
    count: int
    source: str  # "cli", "env" or "fallback"
    warnings: list[str] = field(default_factory=list)


def _parse(raw: str) -> int | None:
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if 1 <= value <= MAX_WORKERS else None


def resolve_workers(cli_value: int | None, env: Mapping[str, str]) -> WorkerChoice:
    warnings: list[str] = []
    count: int | None = None
    source = "fallback"
    if cli_value is not None:
        if 1 <= cli_value <= MAX_WORKERS:
            count, source = cli_value, "cli"
        else:
            warnings.append(f"--workers {cli_value} is outside 1..{MAX_WORKERS}; ignoring it")
    if count is None and ENV_VAR in env:
        parsed = _parse(env[ENV_VAR])
        if parsed is None:
            warnings.append(
                f"{ENV_VAR}={env[ENV_VAR]!r} is not a whole number in 1..{MAX_WORKERS}; "
                f"using the fallback {RECOMMENDED_WORKERS}"
            )
        else:
            count, source = parsed, "env"
    if count is None:
        count = RECOMMENDED_WORKERS
    if count != RECOMMENDED_WORKERS:
        warnings.append(f"workers={count} (from {source}) differs from the recommended {RECOMMENDED_WORKERS}")
    return WorkerChoice(count, source, warnings)

"""A plan's budget: stop asking models once the plan has spent what it may.

The budget comes with the plan (``plan.json``'s ``budget``: ``max_cost`` in USD and/or
``max_tokens``, prompt and answer tokens together, and what earlier runs spent). Before
every attempt the executor asks ``BudgetGuard.check``; once the spend has reached a
limit, no new attempt starts. Calls already under way finish, so a plan spends at most
its budget plus the calls in flight. Spend is read from ``events.jsonl`` (one
``llm_call`` line per attempt), which every step writes to, whether it runs as a
thread or as a forked process, so all of them see the same total.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planexe.errors import LLMError, PipelineError


class BudgetExceededError(LLMError):
    """The plan has spent its budget."""


@dataclass(frozen=True)
class Spend:
    cost_usd: float = 0.0
    tokens: int = 0  # prompt and answer tokens

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.cost_usd + other.cost_usd, self.tokens + other.tokens)


@dataclass(frozen=True)
class Budget:
    max_cost: float | None = None  # USD
    max_tokens: int | None = None
    spent: Spend = Spend()  # by the plan's earlier runs, as the service counted it

    @classmethod
    def from_plan(cls, data: Any) -> Budget | None:
        """The ``budget`` object of plan.json; None when the plan has no limit."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise PipelineError("plan.json budget must be an object")
        try:
            max_cost = None if data.get("max_cost") is None else float(data["max_cost"])
            max_tokens = None if data.get("max_tokens") is None else int(data["max_tokens"])
            spent = Spend(float(data.get("spent_cost") or 0.0), int(data.get("spent_tokens") or 0))
        except (TypeError, ValueError) as exc:
            raise PipelineError(f"plan.json budget is not valid: {exc}") from exc
        if max_cost is None and max_tokens is None:
            return None
        return cls(max_cost, max_tokens, spent)

    def describe(self) -> str:
        parts = []
        if self.max_cost is not None:
            parts.append(f"{self.max_cost:g} USD")
        if self.max_tokens is not None:
            parts.append(f"{self.max_tokens:,} tokens")
        return " and ".join(parts)


def _spend_of(event: dict[str, Any]) -> Spend:
    tokens = int(event.get("prompt_tokens") or 0) + int(event.get("completion_tokens") or 0)
    return Spend(float(event.get("cost_usd") or 0.0), tokens)


class BudgetGuard:
    """Raises ``BudgetExceededError`` before a call once the plan's spend reached its budget."""

    def __init__(self, budget: Budget, events_path: Path, attempt: int) -> None:
        self.budget = budget
        self.path = events_path
        self.attempt = attempt
        self._lock = threading.Lock()
        self._offset = 0
        self._this_run = Spend()
        self._earlier_local = Spend()  # earlier runs' calls in this run directory

    def spent(self) -> Spend:
        """The plan's spend so far: earlier runs (the larger of the service's count and this
        directory's) and this run's finished attempts."""
        with self._lock:
            self._read_new()
            before = max(self.budget.spent, self._earlier_local, key=lambda s: (s.cost_usd, s.tokens))
            return before + self._this_run

    def _read_new(self) -> None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self._offset += end + 1
        for raw in chunk[: end + 1].splitlines():
            if b'"llm_call"' not in raw:
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("kind") != "llm_call":
                continue
            if event.get("attempt") == self.attempt:
                self._this_run = self._this_run + _spend_of(event)
            else:
                self._earlier_local = self._earlier_local + _spend_of(event)

    def exceeded(self) -> str | None:
        """Why no further call may start, or None while the budget lasts."""
        spent, budget = self.spent(), self.budget
        if budget.max_cost is not None and spent.cost_usd >= budget.max_cost:
            return f"the plan spent {spent.cost_usd:.4f} USD of its {budget.max_cost:g} USD budget"
        if budget.max_tokens is not None and spent.tokens >= budget.max_tokens:
            return f"the plan used {spent.tokens:,} of its {budget.max_tokens:,} tokens"
        return None

    def check(self) -> None:
        why = self.exceeded()
        if why is not None:
            raise BudgetExceededError(
                f"budget exceeded: {why}; its finished steps are kept: resume it with a higher budget"
            )

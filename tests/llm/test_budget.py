"""The budget guard: spend read from events.jsonl, earlier runs counted once, refusal before a call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planexe.llm.budget import Budget, BudgetExceededError, BudgetGuard, Spend


def write_calls(path: Path, attempt: int, *calls: tuple[int, float]) -> None:
    with path.open("a") as fh:
        for tokens, cost in calls:
            event = {"kind": "llm_call", "attempt": attempt, "prompt_tokens": tokens, "completion_tokens": 0}
            fh.write(json.dumps({**event, "cost_usd": cost}) + "\n")
        fh.write(json.dumps({"kind": "task_succeeded", "attempt": attempt}) + "\n")


def test_the_guard_refuses_once_the_spend_reaches_a_limit(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    guard = BudgetGuard(Budget(max_cost=0.01, max_tokens=None), events, attempt=2)
    guard.check()  # nothing spent yet
    write_calls(events, 2, (1000, 0.004), (1000, 0.004))
    guard.check()
    write_calls(events, 2, (1000, 0.003))
    with pytest.raises(BudgetExceededError, match=r"spent 0\.0110 USD of its 0\.01 USD budget"):
        guard.check()


def test_earlier_runs_count_once_whichever_source_knows_more(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_calls(events, 1, (4000, 0.0), (4000, 0.0))  # an earlier run in this directory
    budget = Budget(max_tokens=10_000, spent=Spend(tokens=8000))  # the service counted the same calls
    guard = BudgetGuard(budget, events, attempt=2)
    assert guard.spent() == Spend(0.0, 8000)
    write_calls(events, 2, (1500, 0.0))
    assert guard.exceeded() is None
    write_calls(events, 2, (600, 0.0))
    assert guard.exceeded() == "the plan used 10,100 of its 10,000 tokens"
    # Another machine ran the earlier attempts: only the service's count is known.
    moved = BudgetGuard(Budget(max_tokens=10_000, spent=Spend(tokens=9000)), tmp_path / "none.jsonl", 3)
    assert moved.spent() == Spend(0.0, 9000)


def test_plan_json_budget_is_read_and_checked() -> None:
    assert Budget.from_plan(None) is None
    assert Budget.from_plan({"max_cost": None, "max_tokens": None}) is None
    budget = Budget.from_plan({"max_cost": "0.5", "max_tokens": 9, "spent_cost": 0.1, "spent_tokens": 3})
    assert budget == Budget(0.5, 9, Spend(0.1, 3))
    assert budget.describe() == "0.5 USD and 9 tokens"

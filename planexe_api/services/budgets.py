"""A plan's budget as the service keeps it: asked for at POST /plans, raised at resume, handed to each run.

The budget lives in ``plans.parameters["budget"]`` (``max_cost`` in USD, ``max_tokens``),
fixed when the plan is created (the request's values, else the settings' defaults) and
changed only by a resume that raises it. Each run gets it in ``plan.json`` with what
the plan has spent so far, and the pipeline stops asking models once it is spent
(``planexe/llm/budget.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from planexe.errors import LLMConfigError
from planexe.llm.config import ModelSpec
from planexe.settings import Settings
from planexe_api.db.models import Plan
from planexe_api.errors import ApiError, Conflict

BUDGET_KEY = "budget"
STOPPED_CODE = (
    "budget_exceeded"  # the plan's error code when its budget stopped it (ExitCode.BUDGET_EXCEEDED)
)


def requested(max_cost: float | None, max_tokens: int | None, settings: Settings) -> dict[str, Any] | None:
    """The budget a new plan gets: the request's limits, else the defaults; None for no limit."""
    budget = {
        "max_cost": max_cost if max_cost is not None else settings.plan_max_cost,
        "max_tokens": max_tokens if max_tokens is not None else settings.plan_max_tokens,
    }
    return budget if any(v is not None for v in budget.values()) else None


def of(plan: Plan) -> dict[str, Any] | None:
    budget = (plan.parameters or {}).get(BUDGET_KEY)
    return dict(budget) if isinstance(budget, dict) else None


def unpriced(chain: Sequence[ModelSpec]) -> list[str]:
    """Models of ``chain`` whose calls have no price (the offline generator is free)."""
    return [m.name for m in chain if not m.is_offline and not m.priced]


def check_startup(settings: Settings, chain: Sequence[ModelSpec]) -> None:
    """A default cost limit the models cannot be priced for stops the service at start-up."""
    missing = unpriced(chain)
    if settings.plan_max_cost is not None and missing:
        raise LLMConfigError(
            "PLANEXE_PLAN_MAX_COST",
            f"needs prices for every model; {', '.join(missing)} has none (input_usd_per_mtok, "
            "output_usd_per_mtok in the LLM config)",
        )


def check_priced(budget: dict[str, Any] | None, chain: Sequence[ModelSpec]) -> None:
    """A cost limit needs a price for every model that may answer; else it cannot be kept."""
    if not budget or budget.get("max_cost") is None:
        return
    missing = unpriced(chain)
    if missing:
        raise ApiError(
            f"max_cost needs prices for every model that may answer; {', '.join(missing)} has none: "
            "set input_usd_per_mtok and output_usd_per_mtok in the LLM config, or use max_tokens",
            code="budget_needs_prices",
        )


def raised(plan: Plan, max_cost: float | None, max_tokens: int | None) -> dict[str, Any] | None:
    """The budget after a resume that may raise it; Conflict if a plan its budget stopped would
    stop again at once."""
    budget = of(plan) or {}
    if max_cost is not None:
        budget["max_cost"] = max_cost
    if max_tokens is not None:
        budget["max_tokens"] = max_tokens
    if plan.error_code == STOPPED_CODE:
        spent_cost, spent_tokens = plan.cost_usd or 0.0, plan.prompt_tokens + plan.completion_tokens
        cost_left = budget.get("max_cost") is None or budget["max_cost"] > spent_cost
        tokens_left = budget.get("max_tokens") is None or budget["max_tokens"] > spent_tokens
        if not (cost_left and tokens_left):
            raise Conflict(
                f"the plan stopped at its budget (spent {spent_cost:.4f} USD, {spent_tokens:,} tokens): "
                "resume it with a higher max_cost or max_tokens",
                code="budget_too_low",
            )
    return budget or None


def for_run(plan: Plan) -> dict[str, Any] | None:
    """What plan.json says of the budget: the limits and the spend of earlier runs."""
    budget = of(plan)
    if budget is None:
        return None
    spent = {"spent_cost": plan.cost_usd or 0.0, "spent_tokens": plan.prompt_tokens + plan.completion_tokens}
    return {**budget, **spent}

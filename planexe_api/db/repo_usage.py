"""LLM usage per plan and model, and the plan's running totals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from planexe_api.db import upsert
from planexe_api.db.models import Base, LlmUsage, Plan, PlanStatus, utcnow


@dataclass
class UsageDelta:
    """What to add to one model's usage."""

    calls: int = 0  # successful calls
    failed_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0  # seconds
    cost_usd: float | None = None  # None: no attempt had a price

    def add_cost(self, cost: float | None) -> None:
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost


def add_usage(
    session: Session,
    *,
    plan_id: str,
    token: int,
    usage: Mapping[str, UsageDelta],
    now: datetime | None = None,
) -> bool:
    """Add ``usage`` (by model) to the plan's usage and totals; False, nothing written, if fenced out."""
    stmt = (
        update(Plan)
        .where(Plan.id == plan_id, Plan.fencing_token == token, Plan.status == PlanStatus.RUNNING)
        .values(updated_at=now or utcnow(), **plan_increments(usage))
        .returning(Plan.id)
    )
    if session.execute(stmt).first() is None:
        return False
    store_usage(session, plan_id=plan_id, usage=usage)
    return True


def plan_increments(usage: Mapping[str, UsageDelta]) -> dict[str, Any]:
    """``UPDATE plans SET`` values that add ``usage`` to the plan's totals."""
    deltas = usage.values()
    values: dict[str, Any] = {
        "llm_calls": Plan.llm_calls + sum(u.calls for u in deltas),
        "prompt_tokens": Plan.prompt_tokens + sum(u.prompt_tokens for u in deltas),
        "completion_tokens": Plan.completion_tokens + sum(u.completion_tokens for u in deltas),
    }
    costs = [u.cost_usd for u in deltas if u.cost_usd is not None]
    if costs:
        values["cost_usd"] = func.coalesce(Plan.cost_usd, 0.0) + sum(costs)
    return values


def store_usage(session: Session, *, plan_id: str, usage: Mapping[str, UsageDelta]) -> None:
    """Add ``usage`` to the per-model rows in one statement, without checking the fence.

    Only for a transaction that has already passed the plan's fence (see
    ``repo_files.store_files``) and adds the totals to the plan row itself
    (``plan_increments``). The upsert adds to a row another sync created,
    so two writers can never lose an increment.
    """
    if not usage:
        return
    table = Base.metadata.tables[LlmUsage.__tablename__]
    stmt = upsert.insert(session, table).values(
        [
            {
                "plan_id": plan_id,
                "model": model,
                "calls": u.calls,
                "failed_attempts": u.failed_attempts,
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "latency_s_total": u.latency_s,
                "cost_usd": u.cost_usd,
            }
            for model, u in usage.items()
        ]
    )
    excluded = stmt.excluded
    counters = ("calls", "failed_attempts", "prompt_tokens", "completion_tokens", "latency_s_total")
    set_ = {name: table.c[name] + excluded[name] for name in counters}
    # NULL means "no price": a priced delta adds to NULL as to 0, an unpriced one changes nothing.
    cost = table.c.cost_usd
    set_["cost_usd"] = func.coalesce(cost + excluded.cost_usd, cost, excluded.cost_usd)
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c.plan_id, table.c.model], set_=set_))


def usage_for_plan(session: Session, plan_id: str) -> list[LlmUsage]:
    stmt = (
        select(LlmUsage)
        .where(LlmUsage.plan_id == plan_id)
        .order_by(LlmUsage.model)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def usage_for_plans(session: Session, plan_ids: list[str]) -> dict[str, list[LlmUsage]]:
    """``usage_for_plan`` for several plans in one query (a page of the list); every id present."""
    found: dict[str, list[LlmUsage]] = {plan_id: [] for plan_id in plan_ids}
    if not plan_ids:
        return found
    stmt = (
        select(LlmUsage)
        .where(LlmUsage.plan_id.in_(plan_ids))
        .order_by(LlmUsage.plan_id, LlmUsage.model)
        .execution_options(populate_existing=True)
    )
    for usage in session.scalars(stmt):
        found[usage.plan_id].append(usage)
    return found

"""LLM usage per plan and model, and the plan's running totals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from planexe_api.db.models import LlmUsage, Plan, PlanStatus, utcnow


def add_usage(
    session: Session,
    *,
    plan_id: str,
    token: int,
    model: str,
    calls: int = 0,
    failed_attempts: int = 0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_s: float = 0.0,
    now: datetime | None = None,
) -> bool:
    """Add to the plan's usage of ``model`` and to the plan's totals; False if fenced out.

    The fenced UPDATE of the plan row comes first and locks it, so the
    update-then-insert of the usage row below cannot race another writer.
    """
    fenced = (
        update(Plan)
        .where(Plan.id == plan_id, Plan.fencing_token == token, Plan.status == PlanStatus.RUNNING)
        .values(
            llm_calls=Plan.llm_calls + calls,
            prompt_tokens=Plan.prompt_tokens + prompt_tokens,
            completion_tokens=Plan.completion_tokens + completion_tokens,
            updated_at=now or utcnow(),
        )
        .returning(Plan.id)
    )
    if session.execute(fenced).first() is None:
        return False
    increment = (
        update(LlmUsage)
        .where(LlmUsage.plan_id == plan_id, LlmUsage.model == model)
        .values(
            calls=LlmUsage.calls + calls,
            failed_attempts=LlmUsage.failed_attempts + failed_attempts,
            prompt_tokens=LlmUsage.prompt_tokens + prompt_tokens,
            completion_tokens=LlmUsage.completion_tokens + completion_tokens,
            latency_s_total=LlmUsage.latency_s_total + latency_s,
        )
        .returning(LlmUsage.model)
    )
    if session.execute(increment).first() is None:
        session.add(
            LlmUsage(
                plan_id=plan_id,
                model=model,
                calls=calls,
                failed_attempts=failed_attempts,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                latency_s_total=latency_s,
            )
        )
        session.flush()
    return True


def usage_for_plan(session: Session, plan_id: str) -> list[LlmUsage]:
    stmt = (
        select(LlmUsage)
        .where(LlmUsage.plan_id == plan_id)
        .order_by(LlmUsage.model)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))

"""Resuming plans in bulk (the dead-letter queue's replay): POST /plans/resume.

The filter picks failed or cancelled plans (by error code, by when they
ended), the oldest first and at most ``limit``; each is then resumed exactly
as ``POST /plans/{id}/resume`` would (``plan_actions.resume_plan``, one short
transaction each), so every rule of a single resume holds: a plan its budget
stopped needs a higher budget and is skipped with ``budget_too_low``, a plan
resumed or deleted meanwhile is skipped with the error a single resume gives.
"""

from __future__ import annotations

from planexe.log import get_logger
from planexe_api.db import repo_plans
from planexe_api.errors import ApiError
from planexe_api.schemas import PlanReplay, ReplayOut, SkippedPlan
from planexe_api.services import plan_actions
from planexe_api.state import AppState

log = get_logger(__name__)


async def resume_matching(state: AppState, replay: PlanReplay) -> ReplayOut:
    """Resume every plan the filter matches; which were resumed, and which skipped and why."""
    ids = await state.store.run(
        lambda s: repo_plans.find_for_replay(
            s,
            statuses=[replay.status],
            error_code=replay.error_code,
            since=replay.since,
            limit=replay.limit,
        )
    )
    resumed: list[str] = []
    skipped: list[SkippedPlan] = []
    for plan_id in ids:
        try:
            await plan_actions.resume_plan(state, plan_id)
        except ApiError as exc:
            skipped.append(SkippedPlan(id=plan_id, code=exc.code, message=exc.message))
        else:
            resumed.append(plan_id)
    log.info(
        "plans_replayed",
        matched=len(ids),
        resumed=len(resumed),
        skipped=len(skipped),
        status=replay.status,
        error_code=replay.error_code,
    )
    return ReplayOut(matched=len(ids), resumed=resumed, skipped=skipped)

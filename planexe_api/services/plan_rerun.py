"""Regenerate part of a plan: the rule behind ``POST /plans/{id}/rerun`` and MCP's ``plan_rerun``.

The tasks asked for and everything downstream of them run again, with the
feedback in their prompts; every other output is reused as it is. The earlier
outputs of those tasks stay readable as versions (``repo_versions``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from planexe_api.db import repo_plans, repo_reruns
from planexe_api.db.errors import InvalidTransition, PlanNotFound
from planexe_api.db.models import PlanStatus
from planexe_api.errors import Conflict, Unprocessable
from planexe_api.schemas import RerunOut
from planexe_api.services.plan_actions import check_plan_id, plan_not_found, plan_out, refused_is_final
from planexe_api.services.plan_eta import dag_of
from planexe_api.state import AppState


async def rerun_plan(
    state: AppState,
    plan_id: str,
    tasks: Sequence[str],
    feedback: str | None = None,
    requested_by: Mapping[str, Any] | None = None,
) -> RerunOut:
    """Invalidate ``tasks`` (names as ``planexe graph`` prints them) and their descendants, keep
    their outputs as earlier versions, and queue the plan; says which tasks will run again.

    NotFound for an unknown plan, Unprocessable ``unknown_task`` (with the valid names) for a
    task the plan does not have, Conflict ``not_rerunnable`` while it is queued or running.
    """
    check_plan_id(plan_id)
    plan = await state.store.read_small(lambda s: repo_plans.get_plan(s, plan_id))
    if plan is None:
        raise plan_not_found(plan_id)
    if plan.status == PlanStatus.REFUSED:
        raise refused_is_final(plan_id, "rerun", "not_rerunnable")
    dag = dag_of(state, plan)
    requested = list(dict.fromkeys(tasks))
    unknown = [name for name in requested if name not in dag.by_name]
    if unknown:
        valid = [task.name for task in dag.tasks]
        raise Unprocessable(
            f"plan {plan_id} has no task {', '.join(map(repr, unknown))}; its tasks are: {', '.join(valid)}",
            code="unknown_task",
            details={"unknown_tasks": unknown, "valid_tasks": valid},
        )
    invalidated = dag.downstream(requested)
    feedback = (feedback or "").strip() or None

    def write(session: Session) -> RerunOut:
        try:
            rerun = repo_reruns.rerun_plan(
                session,
                plan_id,
                requested=requested,
                invalidated=invalidated,
                feedback=feedback,
                requested_by=dict(requested_by or {}),
            )
        except PlanNotFound as exc:
            raise plan_not_found(plan_id) from exc
        except InvalidTransition as exc:
            raise Conflict(
                f"plan {plan_id} is {exc.status}: a plan can be rerun once it is completed, failed or "
                "cancelled (cancel it first, or wait for it to finish)",
                code="not_rerunnable",
            ) from exc
        return RerunOut(
            plan=plan_out(session, rerun.plan),
            rerun=rerun.generation,
            requested=requested,
            tasks=list(invalidated),
            kept=len(dag.tasks) - len(invalidated),
            llm_calls_planned=sum(dag.by_name[name].llm_calls for name in invalidated),
            superseded_files=sorted(rerun.superseded),
            feedback=feedback,
        )

    out = await state.store.run(write, write=True)
    state.signals.notify(plan_id)
    if state.runner is not None:
        state.runner.wake()
    return out

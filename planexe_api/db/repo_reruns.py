"""Rerun: regenerate some tasks of a finished plan and everything downstream of them.

One transaction does it all, so a rerun is either wholly asked for or not at
all: the invalidated tasks' stored outputs become earlier versions
(``repo_versions``), their call checkpoints go (``repo_calls``), the plan's
``parameters.reruns`` gives each of them the rerun's number (its generation)
and the feedback, and the plan is queued again as a resume would. The run
that follows is an ordinary run: restored from the database, resumed after a
crash, on whichever replica claims it; the pipeline moves aside outputs older
than their task's generation (``planexe/pipeline/reruns.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from planexe_api.db import repo_calls, repo_versions
from planexe_api.db.errors import InvalidTransition, PlanNotFound
from planexe_api.db.models import Plan, PlanStatus, utcnow
from planexe_api.db.repo_events import append_service_events
from planexe_api.db.repo_plans import lock_plan, queue_again

RERUNS_KEY = "reruns"  # in plans.parameters, and in plan.json
RERUNNABLE = (PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED)


@dataclass(frozen=True)
class Rerun:
    plan: Plan
    generation: int  # this rerun's number: 1 for a plan's first
    superseded: dict[str, str]  # stored files that became earlier versions, with their tasks


def reruns_of(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    value = (parameters or {}).get(RERUNS_KEY)
    return dict(value) if isinstance(value, dict) else {}


def rerun_plan(
    session: Session,
    plan_id: str,
    *,
    requested: Sequence[str],
    invalidated: Sequence[str],
    feedback: str | None,
    requested_by: Mapping[str, Any],
    now: datetime | None = None,
) -> Rerun:
    """Invalidate ``invalidated`` (the ``requested`` tasks and their descendants) and queue the plan.

    Raises :class:`PlanNotFound`, or :class:`InvalidTransition` unless the plan is completed,
    failed or cancelled.
    """
    now = now or utcnow()
    plan = lock_plan(session, plan_id)
    if plan is None:
        raise PlanNotFound(plan_id)
    if plan.plan_status not in RERUNNABLE:
        raise InvalidTransition(plan_id, plan.status, "rerun")
    reruns = reruns_of(plan.parameters)
    generation = int(reruns.get("generation") or 0) + 1
    tasks = dict(reruns.get("tasks") or {})
    for name in invalidated:
        tasks[name] = {"generation": generation, "feedback": feedback}
    plan.parameters = {**(plan.parameters or {}), RERUNS_KEY: {"generation": generation, "tasks": tasks}}
    superseded = repo_versions.supersede_files(session, plan_id, invalidated, rerun=generation, now=now)
    repo_calls.delete_calls(session, plan_id, invalidated)
    queue_again(plan, now)
    # Until its run announces itself, the plan counts as done the tasks whose outputs it keeps.
    plan.progress_done = max(0, plan.progress_done - len(set(superseded.values())))
    append_service_events(
        session,
        plan_id=plan_id,
        events=[
            {
                "kind": "plan_rerun",
                "rerun": generation,
                "requested": list(requested),
                "tasks": list(invalidated),
                "feedback": feedback,
                "requested_by": dict(requested_by),
                "superseded_files": sorted(superseded),
            }
        ],
        now=now,
    )
    session.flush()
    return Rerun(plan, generation, superseded)

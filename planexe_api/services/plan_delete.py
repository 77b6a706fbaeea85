"""Deleting plans: on request (DELETE /plans/{id}), by retention, and their run directories.

A deletion is one transaction (``repo_deletions.delete_plan``): the plan's
rows go, and each place whose runner ran the plan (host and runs directory)
gets a ``plan_deletions`` note. A run directory can only be removed on its
own machine, so every runner reads its place's notes in its housekeeping loop
(``services/housekeeping.py``), removes those directories and then the
notes; the replica that took the request does the same for its own host at
once, so on one machine a plan is gone, directory included, when DELETE
answers.
"""

from __future__ import annotations

from planexe.log import get_logger
from planexe_api.db import repo_deletions
from planexe_api.db.errors import InvalidTransition, StoreError
from planexe_api.db.models import utcnow
from planexe_api.errors import Conflict
from planexe_api.services.housekeeping import remove_run_dirs
from planexe_api.services.plan_actions import check_plan_id, plan_not_found
from planexe_api.state import AppState

log = get_logger(__name__)


async def delete_plan(state: AppState, plan_id: str) -> None:
    """Delete the plan, its rows and stored files everywhere, and its run directory on this host now
    (on other hosts, their runners remove it). NotFound if there is none; Conflict while it runs."""
    check_plan_id(plan_id)
    now = utcnow()

    def delete(session: object) -> list[repo_deletions.Location]:
        try:
            hosts = repo_deletions.delete_plan(session, plan_id, now=now)  # type: ignore[arg-type]
        except InvalidTransition as exc:
            raise Conflict(
                f"plan {plan_id} is running: cancel it first (POST /plans/{plan_id}/cancel), "
                "then delete it once it is cancelled",
                code="plan_running",
            ) from exc
        if hosts is None:
            raise plan_not_found(plan_id)
        return hosts

    hosts = await state.store.run(delete, write=True)
    log.info("plan_deleted", plan_id=plan_id, run_dirs_at=[f"{h}:{d}" for h, d in hosts])
    state.traces.forget(plan_id)
    state.signals.notify(plan_id)  # its event streams end now rather than at their next poll
    try:
        await remove_run_dirs(state.store, state.settings)
    except StoreError as exc:  # the rows are gone; a runner's housekeeping finishes the job
        log.warning("run_dir_cleanup_failed", plan_id=plan_id, error=str(exc))

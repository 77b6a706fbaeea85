"""Claims, leases, fenced writes and recovery: how runners share the plans table.

A runner claims a queued plan and holds it under a lease it renews. Each claim
increments ``fencing_token``; every later write by the runner names the token
it got and only applies while the plan is still ``running`` under that token.
A runner whose write returns False has lost the plan (another runner re-claimed
it, recovery requeued it, or it was finished) and must stop its child.
See docs/database.md for the rules and the reasons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from planexe_api import policy
from planexe_api.db.models import TERMINAL_STATUSES, Plan, PlanStatus, utcnow
from planexe_api.db.repo_events import append_service_events
from planexe_api.db.repo_usage import UsageDelta, plan_increments


@dataclass(frozen=True)
class LeaseState:
    held: bool  # False: the plan is no longer ours; stop the child, write nothing more
    cancel_requested: bool  # True: a person asked to cancel; stop the child and finish as cancelled


class RecoveryOutcome(StrEnum):
    REQUEUED = "requeued"  # back in the queue; the next claim resumes it from its finished tasks
    FAILED_TOO_OLD = "recovery_too_old"  # queued longer ago than the recovery age limit
    FAILED_MAX_ATTEMPTS = policy.MAX_ATTEMPTS_CODE  # interrupted as often as the attempt limit allows
    CANCELLED = "cancelled"  # a cancel was pending; nobody is left to act on it, so it is done


@dataclass(frozen=True)
class RecoveryAction:
    plan_id: str
    outcome: RecoveryOutcome
    attempt: int  # runs started, including the interrupted one
    previous_owner: str | None


def _fenced(plan_id: str, token: int) -> tuple[ColumnElement[bool], ...]:
    return (Plan.id == plan_id, Plan.fencing_token == token, Plan.status == PlanStatus.RUNNING)


def claim_next(session: Session, *, worker_id: str, lease_s: float, now: datetime) -> Plan | None:
    """Claim the next queued plan (priority, then oldest, then id) for ``worker_id``; None if none.

    Run it in ``transaction(write=True)``: on SQLite BEGIN IMMEDIATE makes the
    select-then-update exclusive; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets
    concurrent claimers pass over each other's rows instead of waiting.
    """
    stmt = (
        select(Plan)
        .where(Plan.status == PlanStatus.QUEUED)
        .order_by(Plan.priority.desc(), Plan.created_at, Plan.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    plan = session.scalars(stmt).first()
    if plan is None:
        return None
    plan.status = PlanStatus.RUNNING
    plan.lease_owner = worker_id
    plan.lease_expires_at = now + timedelta(seconds=lease_s)
    plan.attempt += 1
    plan.fencing_token += 1
    plan.started_at = plan.started_at or now
    plan.updated_at = now
    session.flush()
    return plan


def renew_lease(
    session: Session, *, plan_id: str, worker_id: str, token: int, lease_s: float, now: datetime
) -> LeaseState:
    """Extend the lease to ``now + lease_s`` if ``worker_id`` still holds the plan under ``token``.

    A lease that expired but that nobody took over is renewed: the token, not
    the clock, decides who owns a plan.
    """
    stmt = (
        update(Plan)
        .where(*_fenced(plan_id, token), Plan.lease_owner == worker_id)
        .values(lease_expires_at=now + timedelta(seconds=lease_s), updated_at=now)
        .returning(Plan.cancel_requested)
    )
    row = session.execute(stmt).first()
    if row is None:
        return LeaseState(held=False, cancel_requested=False)
    return LeaseState(held=True, cancel_requested=bool(row[0]))


def hold_fence(session: Session, *, plan_id: str, token: int, now: datetime | None = None) -> bool:
    """True if ``token`` still holds the running plan; the row stays locked until the transaction ends."""
    stmt = update(Plan).where(*_fenced(plan_id, token)).values(updated_at=now or utcnow()).returning(Plan.id)
    return session.execute(stmt).first() is not None


def update_progress(
    session: Session,
    *,
    plan_id: str,
    token: int,
    done: int,
    total: int,
    running_tasks: Sequence[str],
    usage: Mapping[str, UsageDelta] | None = None,
    now: datetime | None = None,
) -> bool:
    """Record task progress, and add ``usage`` to the plan's LLM totals (the per-model rows are
    ``repo_usage.store_usage``'s): one UPDATE of the plan row per sync instead of two."""
    stmt = (
        update(Plan)
        .where(*_fenced(plan_id, token))
        .values(
            progress_done=done,
            progress_total=total,
            running_tasks=list(running_tasks),
            updated_at=now or utcnow(),
            **(plan_increments(usage) if usage else {}),
        )
        .returning(Plan.id)
    )
    return session.execute(stmt).first() is not None


def finish_plan(
    session: Session,
    *,
    plan_id: str,
    token: int,
    status: PlanStatus | str,
    error_code: str | None = None,
    error_message: str | None = None,
    failed_task: str | None = None,
    now: datetime,
) -> bool:
    """Move the running plan to a final status (completed, failed, cancelled, refused) and release its lease."""
    status = PlanStatus(status)
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"finish_plan needs a final status, not {status!r}")
    stmt = (
        update(Plan)
        .where(*_fenced(plan_id, token))
        .values(
            status=status,
            error_code=error_code,
            error_message=error_message,
            failed_task=failed_task,
            lease_owner=None,
            lease_expires_at=None,
            running_tasks=[],
            finished_at=now,
            updated_at=now,
        )
        .returning(Plan.id)
    )
    return session.execute(stmt).first() is not None


def requeue_plan(
    session: Session, *, plan_id: str, token: int, reason: str, now: datetime | None = None
) -> bool:
    """Give a running plan back to the queue (graceful shutdown); the next claim resumes it.

    ``attempt`` is kept, so the run that was stopped counts towards the attempt
    limit and attempt numbers stay unique per run. A plan with a pending cancel
    request is cancelled instead. The reason is recorded as a ``plan_requeued`` event.
    """
    now = now or utcnow()
    plan = session.scalars(
        select(Plan)
        .where(*_fenced(plan_id, token))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if plan is None:
        return False
    if plan.cancel_requested:
        plan.status = PlanStatus.CANCELLED
        plan.finished_at = now
        kind = "plan_cancelled"
    else:
        plan.status = PlanStatus.QUEUED
        kind = "plan_requeued"
    _release(plan, now)
    append_service_events(session, plan_id=plan_id, events=[{"kind": kind, "reason": reason}], now=now)
    session.flush()
    return True


def _release(plan: Plan, now: datetime) -> None:
    plan.lease_owner = None
    plan.lease_expires_at = None
    plan.running_tasks = []
    plan.updated_at = now


def release_worker_leases(session: Session, *, worker_id: str, now: datetime) -> list[str]:
    """Expire now every lease held by a worker known to be dead; recovery then needs no waiting."""
    stmt = (
        update(Plan)
        .where(Plan.status == PlanStatus.RUNNING, Plan.lease_owner == worker_id)
        .values(lease_expires_at=now, updated_at=now)
        .returning(Plan.id)
    )
    return list(session.scalars(stmt))


def recover_expired(
    session: Session, *, now: datetime, max_age_s: float, max_attempts: int
) -> list[RecoveryAction]:
    """Deal with every running plan whose lease expired (``lease_expires_at <= now``) or has no owner.

    Pending cancel: cancelled. Queued (created or last resumed) more than
    ``max_age_s`` ago: failed ``recovery_too_old``. ``attempt >= max_attempts``:
    failed ``max_attempts``. Otherwise: queued again. Rows another transaction
    holds (a runner renewing right now) are skipped.
    """
    stmt = (
        select(Plan)
        .where(
            Plan.status == PlanStatus.RUNNING,
            or_(Plan.lease_owner.is_(None), Plan.lease_expires_at.is_(None), Plan.lease_expires_at <= now),
        )
        .order_by(Plan.created_at, Plan.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    actions = []
    for plan in session.scalars(stmt).all():
        outcome = _recover_one(plan, now=now, max_age_s=max_age_s, max_attempts=max_attempts)
        actions.append(RecoveryAction(plan.id, outcome, plan.attempt, plan.lease_owner))
        event: dict[str, Any] = {
            "kind": "plan_recovered",
            "outcome": outcome.value,
            "previous_owner": plan.lease_owner,
        }
        events: list[dict[str, Any]] = (
            [event, {"kind": "plan_cancelled"}] if outcome is RecoveryOutcome.CANCELLED else [event]
        )
        append_service_events(session, plan_id=plan.id, events=events, now=now)
        _release(plan, now)
    session.flush()
    return actions


def _recover_one(plan: Plan, *, now: datetime, max_age_s: float, max_attempts: int) -> RecoveryOutcome:
    owner = plan.lease_owner or "no runner"
    age_s = (now - plan.queued_at).total_seconds()
    if plan.cancel_requested:
        plan.status = PlanStatus.CANCELLED
        plan.finished_at = now
        return RecoveryOutcome.CANCELLED
    if age_s > max_age_s:
        outcome = RecoveryOutcome.FAILED_TOO_OLD
        plan.error_message = (
            f"The run was interrupted ({owner} stopped renewing its lease) and the plan was queued "
            f"{_duration(age_s)} ago, more than the {_duration(max_age_s)} recovery limit "
            "(PLANEXE_RECOVERY_MAX_AGE_S). Resume it to continue from its finished tasks."
        )
    elif not policy.may_retry(plan.attempt, max_attempts):
        outcome = RecoveryOutcome.FAILED_MAX_ATTEMPTS
        plan.error_message = policy.out_of_attempts_message(
            f"{owner} stopped renewing its lease", plan.attempt, max_attempts
        )
    else:
        plan.status = PlanStatus.QUEUED
        return RecoveryOutcome.REQUEUED
    plan.status = PlanStatus.FAILED
    plan.error_code = outcome.value
    plan.finished_at = now
    return outcome


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"

"""Plans as people see them: create, read, list, cancel, resume.

Every function takes the caller's session and never commits. Functions that
change a plan lock its row first (``FOR UPDATE`` on PostgreSQL; on SQLite the
caller's ``transaction(write=True)`` holds the database write lock).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from planexe_api.db.errors import DuplicateIdempotencyKey, InvalidCursor, InvalidTransition, PlanNotFound
from planexe_api.db.models import LlmUsage, Plan, PlanDetail, PlanStatus, is_plan_id, new_plan_id, utcnow
from planexe_api.db.repo_events import append_service_events

MAX_LIST_LIMIT = 500  # plans per page


@dataclass(frozen=True)
class PlanPage:
    plans: list[Plan]
    next_cursor: str | None  # pass back as ``cursor`` for the next (older) page; None on the last page


def create_plan(
    session: Session,
    *,
    prompt: str,
    detail: str = PlanDetail.FULL,
    llm_model: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    priority: int = 0,
    now: datetime | None = None,
) -> Plan:
    """Queue a new plan. Raises :class:`DuplicateIdempotencyKey` if the key is taken.

    The insert runs in a savepoint, so after that error the caller's transaction
    is still usable, e.g. to return ``find_by_idempotency_key(session, key)``.
    """
    now = now or utcnow()
    plan = Plan(
        id=new_plan_id(),
        prompt=prompt,
        detail=PlanDetail(detail).value,
        llm_model=llm_model,
        parameters=dict(parameters or {}),
        status=PlanStatus.QUEUED,
        priority=priority,
        idempotency_key=idempotency_key,
        attempt=0,
        fencing_token=0,
        cancel_requested=False,
        running_tasks=[],
        created_at=now,
        queued_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(plan)
    except IntegrityError as exc:
        if idempotency_key is None:
            raise
        raise DuplicateIdempotencyKey(idempotency_key) from exc
    return plan


def get_plan(session: Session, plan_id: str) -> Plan | None:
    if not is_plan_id(plan_id):
        return None
    return session.get(Plan, plan_id, populate_existing=True)


def get_plan_with_usage(session: Session, plan_id: str) -> tuple[Plan, list[LlmUsage]] | None:
    """The plan and its usage by model (sorted by model), in one query; None if there is no such plan."""
    if not is_plan_id(plan_id):
        return None
    stmt = (
        select(Plan, LlmUsage)
        .outerjoin(LlmUsage, LlmUsage.plan_id == Plan.id)
        .where(Plan.id == plan_id)
        .order_by(LlmUsage.model)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return None
    return rows[0][0], [usage for _, usage in rows if usage is not None]


def find_by_idempotency_key(session: Session, key: str) -> Plan | None:
    stmt = select(Plan).where(Plan.idempotency_key == key).execution_options(populate_existing=True)
    return session.scalars(stmt).first()


def _prompt_contains(search: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on the prompt; ``%`` and ``_`` in ``search`` are literal."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Plan.prompt.ilike(f"%{escaped}%", escape="\\")


def list_plans(
    session: Session,
    *,
    status: PlanStatus | str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    search: str | None = None,
) -> PlanPage:
    """Plans newest first, a page at a time (keyset pagination: stable while plans are added).

    ``search`` keeps the plans whose prompt contains it, ignoring case.
    """
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    stmt = select(Plan).order_by(Plan.created_at.desc(), Plan.id.desc()).limit(limit + 1)
    if status is not None:
        stmt = stmt.where(Plan.status == PlanStatus(status))
    if search:
        stmt = stmt.where(_prompt_contains(search))
    if cursor is not None:
        created_at, plan_id = _decode_cursor(cursor)
        stmt = stmt.where(
            or_(Plan.created_at < created_at, and_(Plan.created_at == created_at, Plan.id < plan_id))
        )
    plans = list(session.scalars(stmt))
    if len(plans) <= limit:
        return PlanPage(plans, None)
    plans = plans[:limit]
    return PlanPage(plans, _encode_cursor(plans[-1]))


def _encode_cursor(plan: Plan) -> str:
    raw = f"{plan.created_at.isoformat()}|{plan.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for; InvalidCursor for anything ``_encode_cursor``
    could not have made: bad base64 or text, a naive or out-of-range time (one that overflows
    once moved to UTC), an id that is not a plan id."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, plan_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise InvalidCursor()
        created_at = created_at.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidCursor() from exc
    if not is_plan_id(plan_id):
        raise InvalidCursor()
    return created_at, plan_id


def count_by_status(session: Session, search: str | None = None) -> dict[PlanStatus, int]:
    """Plans per status (those whose prompt contains ``search``), every status present."""
    counts = dict.fromkeys(PlanStatus, 0)
    stmt = select(Plan.status, func.count()).group_by(Plan.status)
    if search:
        stmt = stmt.where(_prompt_contains(search))
    for status, count in session.execute(stmt):
        counts[PlanStatus(status)] = count
    return counts


def queue_depth(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Plan).where(Plan.status == PlanStatus.QUEUED)) or 0


def lock_plan(session: Session, plan_id: str) -> Plan | None:
    if not is_plan_id(plan_id):
        return None
    stmt = select(Plan).where(Plan.id == plan_id).with_for_update().execution_options(populate_existing=True)
    return session.scalars(stmt).first()


def request_cancel(session: Session, plan_id: str, *, now: datetime | None = None) -> Plan | None:
    """Cancel a plan; None if there is no such plan.

    queued: cancelled at once. running: ``cancel_requested`` is set and the lease
    owner sees it at its next renewal, stops the child and finishes the plan as
    cancelled. Already finished: returned unchanged (cancelling is idempotent).
    """
    now = now or utcnow()
    plan = lock_plan(session, plan_id)
    if plan is None:
        return None
    if plan.status == PlanStatus.QUEUED:
        plan.status = PlanStatus.CANCELLED
        plan.finished_at = now
        plan.updated_at = now
        append_service_events(session, plan_id=plan_id, events=[{"kind": "plan_cancelled"}], now=now)
    elif plan.status == PlanStatus.RUNNING and not plan.cancel_requested:
        plan.cancel_requested = True
        plan.updated_at = now
        append_service_events(session, plan_id=plan_id, events=[{"kind": "plan_cancel_requested"}], now=now)
    session.flush()
    return plan


def resume_plan(
    session: Session,
    plan_id: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Plan:
    """Put a failed or cancelled plan back in the queue; its finished tasks are reused.

    Clears the error, the cancel flag and ``started_at``/``finished_at``, and
    resets ``attempt`` to 0: the attempt limit counts runs since the last time a
    person queued the plan. ``fencing_token`` is never reset (it only grows), so
    it stays unique across resumes. A queued plan is returned unchanged.
    Raises :class:`PlanNotFound`, or :class:`InvalidTransition` for running or completed plans.
    """
    now = now or utcnow()
    plan = lock_plan(session, plan_id)
    if plan is None:
        raise PlanNotFound(plan_id)
    if plan.status == PlanStatus.QUEUED:
        return plan
    if plan.status not in (PlanStatus.FAILED, PlanStatus.CANCELLED):
        raise InvalidTransition(plan_id, plan.status, "resumed")
    if parameters is not None:
        plan.parameters = dict(parameters)  # a resume that changes them (a raised budget)
    queue_again(plan, now)
    append_service_events(session, plan_id=plan_id, events=[{"kind": "plan_resumed"}], now=now)
    session.flush()
    return plan


def queue_again(plan: Plan, now: datetime) -> None:
    """Put a locked, finished plan back in the queue as a person asking for it does (resume, rerun).

    Clears the error, the cancel flag and ``started_at``/``finished_at``, and resets
    ``attempt`` to 0: the attempt limit counts runs since a person last queued the plan.
    """
    plan.status = PlanStatus.QUEUED
    plan.attempt = 0
    plan.cancel_requested = False
    plan.error_code = plan.error_message = plan.failed_task = None
    plan.started_at = plan.finished_at = None
    plan.running_tasks = []
    plan.queued_at = now
    plan.updated_at = now


def find_recent_identical(
    session: Session, *, prompt: str, detail: str, llm_model: str | None, since: datetime
) -> Plan | None:
    """The newest plan asked for with the same prompt, detail and model since ``since``
    that has not failed or been cancelled (a refused one counts: asking again gets the same
    answer for no new call); None if there is none."""
    stmt = (
        select(Plan)
        .where(
            Plan.created_at >= since,
            Plan.prompt == prompt,
            Plan.detail == detail,
            Plan.llm_model.is_(None) if llm_model is None else Plan.llm_model == llm_model,
            Plan.status.in_(
                [PlanStatus.QUEUED, PlanStatus.RUNNING, PlanStatus.COMPLETED, PlanStatus.REFUSED]
            ),
        )
        .order_by(Plan.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def find_for_replay(
    session: Session,
    *,
    statuses: Sequence[PlanStatus | str],
    error_code: str | None = None,
    since: datetime | None = None,
    limit: int,
) -> list[str]:
    """Ids of plans in ``statuses`` (with ``error_code``, finished at or after ``since``), the
    oldest finished first, at most ``limit``: what a bulk resume resumes."""
    ended = func.coalesce(Plan.finished_at, Plan.updated_at)
    stmt = select(Plan.id).where(Plan.status.in_([PlanStatus(s).value for s in statuses]))
    if error_code is not None:
        stmt = stmt.where(Plan.error_code == error_code)
    if since is not None:
        stmt = stmt.where(ended >= since)
    return list(session.scalars(stmt.order_by(ended, Plan.id).limit(limit)))

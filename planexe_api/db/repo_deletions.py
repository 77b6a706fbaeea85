"""Deleting a plan: its row, every row keyed by it, and a note per host that holds its run directory.

Which tables hold a plan's rows is read from the schema (every foreign key to
``plans.id``), so a table added later is deleted from without a change here.
The run directory lives on the machine whose runner ran the plan; the hosts
come from the plan's own events (``plan_running`` names the worker that ran
it, ``plan_recovered`` the one that lost it) before those are deleted, and
each gets a ``plan_deletions`` row that its runners act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from planexe_api.db.errors import InvalidTransition
from planexe_api.db.models import (
    TERMINAL_STATUSES,
    Base,
    Plan,
    PlanDeletion,
    PlanEvent,
    PlanStatus,
    Worker,
)

# Events that name a worker that ran the plan, and the field that names it.
_RUNNER_FIELDS = {"plan_running": "worker_id", "plan_recovered": "previous_owner"}


def plan_keyed_columns() -> list[Column[str]]:
    """The column of every table that refers to a plan (a foreign key to plans.id)."""
    plans_id = Plan.__table__.c.id
    return [
        column
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if any(fk.column is plans_id for fk in column.foreign_keys)
    ]


Location = tuple[str, str]  # (host, absolute runs_dir; "" when unknown): where run directories are


def locations_that_ran(session: Session, plan_id: str) -> list[Location]:
    """Where the workers that ran the plan keep run directories, from its events."""
    stmt = select(PlanEvent.kind, PlanEvent.data).where(
        PlanEvent.plan_id == plan_id, PlanEvent.kind.in_(list(_RUNNER_FIELDS))
    )
    workers = {
        str(data.get(_RUNNER_FIELDS[kind]))
        for kind, data in session.execute(stmt)
        if isinstance(data, dict) and data.get(_RUNNER_FIELDS[kind])
    }
    if not workers:
        return []
    stmt = select(Worker.host, Worker.runs_dir).where(Worker.id.in_(sorted(workers)))
    return sorted({(host, runs_dir or "") for host, runs_dir in session.execute(stmt)})


def delete_plan(
    session: Session, plan_id: str, *, now: datetime, finished_before: datetime | None = None
) -> list[Location] | None:
    """Delete the plan and every row keyed by it; the run directory locations noted in ``plan_deletions``.

    None if there is no such plan, or (with ``finished_before``, for retention) if it
    is not a terminal plan that finished before then. Raises :class:`InvalidTransition`
    for a running plan: its runner would go on writing (cancel it first).
    """
    stmt = select(Plan).where(Plan.id == plan_id).with_for_update().execution_options(populate_existing=True)
    plan = session.scalars(stmt).first()
    if plan is None:
        return None
    if plan.status == PlanStatus.RUNNING:
        raise InvalidTransition(plan_id, plan.status, "deleted")
    if finished_before is not None and not (
        plan.plan_status in TERMINAL_STATUSES and (plan.finished_at or plan.updated_at) < finished_before
    ):
        return None
    locations = locations_that_ran(session, plan_id)
    for column in plan_keyed_columns():
        session.execute(delete(column.table).where(column == plan_id))
    session.execute(delete(Plan).where(Plan.id == plan_id))
    session.add_all(
        PlanDeletion(plan_id=plan_id, host=host, runs_dir=runs_dir, deleted_at=now)
        for host, runs_dir in locations
    )
    session.flush()
    return locations


def finished_before(session: Session, cutoff: datetime, *, limit: int) -> list[str]:
    """Ids of terminal plans that finished before ``cutoff``, oldest first, at most ``limit``."""
    ended = func.coalesce(Plan.finished_at, Plan.updated_at)
    stmt = (
        select(Plan.id)
        .where(Plan.status.in_([s.value for s in TERMINAL_STATUSES]), ended < cutoff)
        .order_by(ended)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _at(location: Location) -> ColumnElement[bool]:
    host, runs_dir = location
    return and_(PlanDeletion.host == host, PlanDeletion.runs_dir.in_([runs_dir, ""]))


def pending_deletions(session: Session, location: Location, *, limit: int) -> list[str]:
    """Plans whose run directory at ``location`` (or anywhere on its host, if unknown) is still to
    be removed."""
    stmt = (
        select(PlanDeletion.plan_id)
        .where(_at(location))
        .distinct()
        .order_by(PlanDeletion.plan_id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def done_deletions(
    session: Session, location: Location, plan_ids: Sequence[str], *, expired_before: datetime | None = None
) -> None:
    """Forget the notes for ``plan_ids`` at ``location`` (their directories are gone), and any
    note anywhere older than ``expired_before`` (a machine that never came back)."""
    conditions: list[ColumnElement[bool]] = []
    if plan_ids:
        conditions.append(and_(_at(location), PlanDeletion.plan_id.in_(list(plan_ids))))
    if expired_before is not None:
        conditions.append(PlanDeletion.deleted_at < expired_before)
    if conditions:
        session.execute(delete(PlanDeletion).where(or_(*conditions)))

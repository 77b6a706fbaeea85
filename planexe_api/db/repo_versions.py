"""Earlier versions of a plan's outputs: what a rerun replaced, kept (``plan_file_versions``).

A rerun moves the stored outputs of the tasks it invalidates here, row for row,
in the transaction that queues the plan again; the run then stores their new
versions in ``plan_files`` as usual. Versions are numbered per file name from 1
(the first output); the current file's number is one more than its newest
earlier version.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.orm import Session, aliased, load_only, undefer

from planexe_api.db.models import PlanFile, PlanFileVersion, utcnow


def supersede_files(
    session: Session, plan_id: str, tasks: Collection[str], *, rerun: int, now: datetime | None = None
) -> dict[str, str]:
    """Move the stored outputs of ``tasks`` to their earlier versions; returns the names moved,
    with their tasks."""
    if not tasks:
        return {}
    now = now or utcnow()
    selected = (PlanFile.plan_id == plan_id, PlanFile.task.in_(list(tasks)))
    found = session.execute(select(PlanFile.name, PlanFile.task).where(*selected).order_by(PlanFile.name))
    moved = {name: task for name, task in found}
    if not moved:
        return {}
    older = aliased(PlanFileVersion)
    next_version = (
        select(func.coalesce(func.max(older.version), 0) + 1)
        .where(older.plan_id == PlanFile.plan_id, older.name == PlanFile.name)
        .scalar_subquery()
    )
    columns = (
        "plan_id",
        "name",
        "version",
        "task",
        "size",
        "sha256",
        "content",
        "created_at",
        "superseded_at",
        "rerun",
    )
    rows = select(
        PlanFile.plan_id,
        PlanFile.name,
        next_version,
        PlanFile.task,
        PlanFile.size,
        PlanFile.sha256,
        PlanFile.content,
        PlanFile.created_at,
        literal(now, PlanFileVersion.superseded_at.type),
        literal(rerun),
    ).where(*selected)
    session.execute(insert(PlanFileVersion).from_select(columns, rows))
    session.execute(delete(PlanFile).where(*selected))
    return moved


def list_versions(session: Session, plan_id: str) -> list[PlanFileVersion]:
    """Every earlier version of the plan's files, by name then version, metadata only."""
    stmt = (
        select(PlanFileVersion)
        .where(PlanFileVersion.plan_id == plan_id)
        .order_by(PlanFileVersion.name, PlanFileVersion.version)
        .options(
            load_only(
                PlanFileVersion.id,
                PlanFileVersion.plan_id,
                PlanFileVersion.name,
                PlanFileVersion.version,
                PlanFileVersion.task,
                PlanFileVersion.size,
                PlanFileVersion.sha256,
                PlanFileVersion.created_at,
                PlanFileVersion.superseded_at,
                PlanFileVersion.rerun,
                raiseload=True,
            )
        )
    )
    return list(session.scalars(stmt))


def latest_versions(session: Session, plan_id: str) -> dict[str, int]:
    """Per file name with earlier versions, the number of its newest one."""
    stmt = (
        select(PlanFileVersion.name, func.max(PlanFileVersion.version))
        .where(PlanFileVersion.plan_id == plan_id)
        .group_by(PlanFileVersion.name)
    )
    return {name: int(version) for name, version in session.execute(stmt)}


def get_version(session: Session, plan_id: str, name: str, version: int) -> PlanFileVersion | None:
    """One earlier version with its content."""
    stmt = (
        select(PlanFileVersion)
        .where(
            PlanFileVersion.plan_id == plan_id,
            PlanFileVersion.name == name,
            PlanFileVersion.version == version,
        )
        .options(undefer(PlanFileVersion.content))
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()

"""Copies of a plan's task outputs, so a run directory can be rebuilt on another machine.

Names are paths relative to the run directory, '/'-separated; anything that
could escape the run directory on restore is refused on the way in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only, undefer

from planexe_api.db.models import PlanFile, utcnow
from planexe_api.db.repo_leases import hold_fence

RESTORE_BATCH = 16  # files fetched per round trip by all_file_contents


def check_file_name(name: str) -> str:
    """``name`` if it is a safe relative path inside a run directory, else ValueError."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise ValueError(f"not a file name inside a run directory: {name!r}")
    return name


def upsert_file(
    session: Session,
    *,
    plan_id: str,
    token: int,
    name: str,
    task: str,
    content: bytes,
    now: datetime | None = None,
) -> bool:
    """Store (or replace) one output file; False if ``token`` no longer holds the plan.

    Idempotent: storing the same bytes again changes nothing.
    """
    check_file_name(name)
    if not hold_fence(session, plan_id=plan_id, token=token, now=now):
        return False
    digest = hashlib.sha256(content).hexdigest()
    stmt = (
        select(PlanFile)
        .where(PlanFile.plan_id == plan_id, PlanFile.name == name)
        .options(load_only(PlanFile.id, PlanFile.sha256, PlanFile.task, PlanFile.size))
    )
    existing = session.scalars(stmt).first()
    if existing is None:
        session.add(
            PlanFile(
                plan_id=plan_id,
                name=name,
                task=task,
                size=len(content),
                sha256=digest,
                content=content,
                created_at=now or utcnow(),
            )
        )
    elif existing.sha256 != digest or existing.task != task:
        existing.task = task
        existing.size = len(content)
        existing.sha256 = digest
        existing.content = content
    session.flush()
    return True


def list_files(session: Session, plan_id: str) -> list[PlanFile]:
    """The plan's files by name, metadata only: reading ``.content`` on them raises."""
    stmt = (
        select(PlanFile)
        .where(PlanFile.plan_id == plan_id)
        .order_by(PlanFile.name)
        .options(
            load_only(
                PlanFile.id,
                PlanFile.plan_id,
                PlanFile.name,
                PlanFile.task,
                PlanFile.size,
                PlanFile.sha256,
                PlanFile.created_at,
                raiseload=True,
            )
        )
    )
    return list(session.scalars(stmt))


def get_file(session: Session, plan_id: str, name: str) -> PlanFile | None:
    """One file with its content."""
    stmt = (
        select(PlanFile)
        .where(PlanFile.plan_id == plan_id, PlanFile.name == name)
        .options(undefer(PlanFile.content))
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def all_file_contents(session: Session, plan_id: str) -> Iterator[tuple[str, bytes]]:
    """``(name, content)`` of every file, by name, a few at a time (not all in memory).

    Consume it inside the transaction that ``session`` belongs to.
    """
    stmt = (
        select(PlanFile.name, PlanFile.content)
        .where(PlanFile.plan_id == plan_id)
        .order_by(PlanFile.name)
        .execution_options(yield_per=RESTORE_BATCH)
    )
    for row in session.execute(stmt):
        yield row.name, row.content

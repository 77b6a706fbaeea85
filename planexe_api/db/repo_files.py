"""Copies of a plan's task outputs, so a run directory can be rebuilt on another machine.

Names are paths relative to the run directory, '/'-separated; anything that
could escape the run directory on restore is refused on the way in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, load_only, undefer

from planexe_api.db import upsert
from planexe_api.db.models import Base, PlanFile, utcnow
from planexe_api.db.repo_leases import hold_fence

RESTORE_BATCH = 16  # files fetched per round trip by all_file_contents
# Files per INSERT statement: 7 parameters each keeps a chunk far below
# PostgreSQL's 65,535 bind parameters and SQLite's 32,766.
UPSERT_CHUNK = 500


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


@dataclass(frozen=True)
class FileUpload:
    name: str  # relative to the run directory, '/'-separated (see check_file_name)
    task: str  # the pipeline task that wrote it
    content: bytes
    sha256: str  # hex digest of content

    @classmethod
    def of(cls, name: str, task: str, content: bytes) -> FileUpload:
        return cls(name, task, content, hashlib.sha256(content).hexdigest())


def upsert_files(
    session: Session,
    *,
    plan_id: str,
    token: int,
    files: Sequence[FileUpload],
    now: datetime | None = None,
) -> bool:
    """Store (or replace) output files; False, and nothing stored, if ``token`` no longer holds the plan.

    Idempotent: storing the same bytes again changes nothing.
    """
    if not hold_fence(session, plan_id=plan_id, token=token, now=now):
        return False
    store_files(session, plan_id=plan_id, files=files, now=now)
    return True


def store_files(
    session: Session, *, plan_id: str, files: Sequence[FileUpload], now: datetime | None = None
) -> None:
    """Write ``files`` in one statement per ``UPSERT_CHUNK`` files, without checking the fence.

    Only for a transaction that has already passed the plan's fence
    (``hold_fence`` or ``append_events`` returned true): that check locked the
    plan row (PostgreSQL) or the database (SQLite ``BEGIN IMMEDIATE``) until
    commit, so no other runner can take the plan over in between.
    A file whose stored sha256 and task already match is not rewritten.
    """
    latest = {check_file_name(f.name): f for f in files}  # one row per name, or ON CONFLICT refuses
    if not latest:
        return
    created_at = now or utcnow()
    rows = [
        {
            "plan_id": plan_id,
            "name": f.name,
            "task": f.task,
            "size": len(f.content),
            "sha256": f.sha256,
            "content": f.content,
            "created_at": created_at,
        }
        for f in latest.values()
    ]
    table = Base.metadata.tables[PlanFile.__tablename__]
    for start in range(0, len(rows), UPSERT_CHUNK):
        stmt = upsert.insert(session, table).values(rows[start : start + UPSERT_CHUNK])
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.plan_id, table.c.name],
            set_={
                "task": excluded.task,
                "size": excluded.size,
                "sha256": excluded.sha256,
                "content": excluded.content,
            },
            where=or_(table.c.sha256 != excluded.sha256, table.c.task != excluded.task),
        )
        session.execute(stmt)


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


def file_contents(session: Session, plan_id: str, names: Sequence[str]) -> dict[str, bytes]:
    """The content of each of ``names`` the plan has (a name it lacks is left out)."""
    stmt = select(PlanFile.name, PlanFile.content).where(
        PlanFile.plan_id == plan_id, PlanFile.name.in_(list(names))
    )
    return {row.name: row.content for row in session.execute(stmt)}

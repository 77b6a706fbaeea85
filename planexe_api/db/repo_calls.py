"""Call checkpoints of a plan (``plan_llm_calls``): the run directory's ``calls/`` files, stored.

A checkpoint is named by a hash of what determined its answer, so it never
changes: storing one that is there already does nothing. A rerun deletes the
checkpoints of the tasks it invalidates (their new calls have new keys anyway).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from planexe_api.db import upsert
from planexe_api.db.models import Base, PlanLlmCall, utcnow
from planexe_api.db.repo_files import RESTORE_BATCH, UPSERT_CHUNK, check_file_name


@dataclass(frozen=True)
class CallUpload:
    name: str  # calls/<task>/<key>.json
    task: str
    content: bytes


def store_calls(
    session: Session, *, plan_id: str, calls: Sequence[CallUpload], now: datetime | None = None
) -> None:
    """Insert the checkpoints not stored yet, without checking the fence (see ``repo_files.store_files``)."""
    latest = {check_file_name(c.name): c for c in calls}
    if not latest:
        return
    created_at = now or utcnow()
    rows = [
        {"plan_id": plan_id, "name": c.name, "task": c.task, "content": c.content, "created_at": created_at}
        for c in latest.values()
    ]
    table = Base.metadata.tables[PlanLlmCall.__tablename__]
    for start in range(0, len(rows), UPSERT_CHUNK):
        stmt = upsert.insert(session, table).values(rows[start : start + UPSERT_CHUNK])
        session.execute(stmt.on_conflict_do_nothing(index_elements=[table.c.plan_id, table.c.name]))


def call_names(session: Session, plan_id: str) -> set[str]:
    return set(session.scalars(select(PlanLlmCall.name).where(PlanLlmCall.plan_id == plan_id)))


def call_contents(session: Session, plan_id: str, names: Collection[str]) -> Iterator[tuple[str, bytes]]:
    """``(name, content)`` of the plan's checkpoints among ``names``, a few at a time."""
    wanted = sorted(names)
    for start in range(0, len(wanted), UPSERT_CHUNK):
        stmt = (
            select(PlanLlmCall.name, PlanLlmCall.content)
            .where(PlanLlmCall.plan_id == plan_id, PlanLlmCall.name.in_(wanted[start : start + UPSERT_CHUNK]))
            .order_by(PlanLlmCall.name)
            .execution_options(yield_per=RESTORE_BATCH)
        )
        for row in session.execute(stmt):
            yield row.name, row.content


def delete_calls(session: Session, plan_id: str, tasks: Collection[str]) -> int:
    """Forget the checkpoints of ``tasks``; returns how many went."""
    if not tasks:
        return 0
    result = session.execute(
        delete(PlanLlmCall).where(PlanLlmCall.plan_id == plan_id, PlanLlmCall.task.in_(list(tasks)))
    )
    return int(getattr(result, "rowcount", 0) or 0)

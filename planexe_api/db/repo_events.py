"""A plan's event log: append-only, numbered 1, 2, 3, ... per plan with no gaps.

The numbers come from ``plans.last_event_seq``, bumped by one UPDATE that also
locks the plan row, so concurrent appends to one plan are serialised and never
collide; ``seq`` is the SSE event id a client resumes from (``Last-Event-ID``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.orm import Session

from planexe_api.db.errors import PlanNotFound
from planexe_api.db.models import Base, Plan, PlanEvent, PlanStatus, utcnow

MAX_EVENTS_PAGE = 1000  # events per events_after call


def append_events(
    session: Session,
    *,
    plan_id: str,
    token: int,
    events: Sequence[Mapping[str, Any]],
    now: datetime | None = None,
) -> list[int] | None:
    """Append the runner's events; their seqs, or None if ``token`` no longer holds the plan.

    Each event is a mapping with a ``kind`` (as the pipeline writes them to
    events.jsonl) and, from the pipeline, an ``eid`` (stored in its own column,
    once per plan); every other key is kept in ``data``.
    """
    fence = (Plan.fencing_token == token, Plan.status == PlanStatus.RUNNING)
    return _append(session, plan_id, events, fence, now or utcnow())


def append_service_events(
    session: Session, *, plan_id: str, events: Sequence[Mapping[str, Any]], now: datetime | None = None
) -> list[int]:
    """Append events written by the service itself (queued, cancelled, recovered), not fenced."""
    seqs = _append(session, plan_id, events, (), now or utcnow())
    if seqs is None:
        raise PlanNotFound(plan_id)
    return seqs


def _append(
    session: Session,
    plan_id: str,
    events: Sequence[Mapping[str, Any]],
    conditions: tuple[ColumnElement[bool], ...],
    now: datetime,
) -> list[int] | None:
    rows = [_split(event) for event in events]
    count = len(rows)
    stmt = (
        update(Plan)
        .where(Plan.id == plan_id, *conditions)
        .values(last_event_seq=Plan.last_event_seq + count)
        .returning(Plan.last_event_seq)
    )
    last = session.execute(stmt).scalar_one_or_none()
    if last is None:
        return None
    first = last - count + 1
    if rows:
        # Core, not ORM objects: nobody needs the new ids back, and without RETURNING the
        # rows go in one executemany (the ORM inserted them one statement each on SQLite).
        session.execute(
            insert(Base.metadata.tables[PlanEvent.__tablename__]),
            [
                {
                    "plan_id": plan_id,
                    "seq": first + i,
                    "kind": kind,
                    "eid": eid,
                    "data": data,
                    "created_at": now,
                }
                for i, (kind, eid, data) in enumerate(rows)
            ],
        )
    return list(range(first, last + 1))


def _split(event: Mapping[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    kind = event.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"an event needs a non-empty string 'kind': {dict(event)!r}")
    eid = event.get("eid")
    data = {key: value for key, value in event.items() if key not in ("kind", "eid")}
    return kind, str(eid) if eid else None, data


def stored_event_ids(session: Session, plan_id: str) -> set[str]:
    """The ids of the pipeline's events.jsonl lines already stored for this plan."""
    stmt = select(PlanEvent.eid).where(PlanEvent.plan_id == plan_id, PlanEvent.eid.is_not(None))
    return {eid for eid in session.scalars(stmt) if eid}


def events_after(session: Session, plan_id: str, after_seq: int = 0, limit: int = 100) -> list[PlanEvent]:
    """Events with ``seq > after_seq``, oldest first, at most ``limit``."""
    limit = max(1, min(limit, MAX_EVENTS_PAGE))
    stmt = (
        select(PlanEvent)
        .where(PlanEvent.plan_id == plan_id, PlanEvent.seq > after_seq)
        .order_by(PlanEvent.seq)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def event_rows_after(
    session: Session, plan_id: str, after_seq: int = 0, limit: int = MAX_EVENTS_PAGE
) -> list[tuple[int, str, dict[str, Any], datetime]]:
    """Like ``events_after``, as plain ``(seq, kind, data, created_at)`` rows: for readers that
    fold a whole log (no ORM objects to build and track, a third of the cost)."""
    limit = max(1, min(limit, MAX_EVENTS_PAGE))
    stmt = (
        select(PlanEvent.seq, PlanEvent.kind, PlanEvent.data, PlanEvent.created_at)
        .where(PlanEvent.plan_id == plan_id, PlanEvent.seq > after_seq)
        .order_by(PlanEvent.seq)
        .limit(limit)
    )
    return [(seq, kind, data or {}, created_at) for seq, kind, data, created_at in session.execute(stmt)]

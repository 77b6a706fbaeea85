"""Service processes that run plans: registered at start, heartbeating, marked at a clean stop.

A worker whose heartbeat is older than ``stale_after_s`` and that never said it
stopped is presumed dead; ``repo_leases.release_worker_leases`` then frees its
plans for recovery without waiting for each lease to run out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from planexe_api.db.models import Worker, WorkerRole


def register_worker(
    session: Session,
    *,
    worker_id: str,
    host: str,
    pid: int,
    role: WorkerRole | str,
    now: datetime,
    runs_dir: str | None = None,
) -> Worker:
    """Insert the worker, or revive a row with the same id (a stopped or presumed-dead one)."""
    worker = session.get(Worker, worker_id, populate_existing=True)
    if worker is None:
        worker = Worker(id=worker_id)
        session.add(worker)
    worker.host = host
    worker.pid = pid
    worker.role = WorkerRole(role).value
    worker.runs_dir = runs_dir
    worker.started_at = now
    worker.heartbeat_at = now
    worker.stopped_at = None
    session.flush()
    return worker


def heartbeat_worker(session: Session, *, worker_id: str, now: datetime) -> bool:
    """False if the worker is unknown or marked stopped: it should register again."""
    stmt = (
        update(Worker)
        .where(Worker.id == worker_id, Worker.stopped_at.is_(None))
        .values(heartbeat_at=now)
        .returning(Worker.id)
    )
    return session.execute(stmt).first() is not None


def mark_worker_stopped(session: Session, *, worker_id: str, now: datetime) -> bool:
    stmt = (
        update(Worker)
        .where(Worker.id == worker_id, Worker.stopped_at.is_(None))
        .values(stopped_at=now)
        .returning(Worker.id)
    )
    return session.execute(stmt).first() is not None


def dead_workers(session: Session, *, now: datetime, stale_after_s: float) -> list[Worker]:
    """Workers that did not stop cleanly and have not heartbeated for ``stale_after_s`` seconds."""
    cutoff = now - timedelta(seconds=stale_after_s)
    stmt = (
        select(Worker)
        .where(Worker.stopped_at.is_(None), Worker.heartbeat_at < cutoff)
        .order_by(Worker.heartbeat_at)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def list_workers(session: Session, *, host: str | None = None, include_stopped: bool = False) -> list[Worker]:
    """Workers, e.g. this host's earlier processes, whose pids the caller can check are gone."""
    stmt = select(Worker).order_by(Worker.started_at).execution_options(populate_existing=True)
    if host is not None:
        stmt = stmt.where(Worker.host == host)
    if not include_stopped:
        stmt = stmt.where(Worker.stopped_at.is_(None))
    return list(session.scalars(stmt))

"""The async face of the sync plan store: each call is one transaction in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from sqlalchemy.orm import Session, sessionmaker

from planexe_api.db.engine import transaction

T = TypeVar("T")

# Database calls get their own thread pool so a slow database cannot starve
# other to_thread users (file reads for the event tail, FastAPI's sync routes).
_DB_THREADS = 16


class Store:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.limiter = anyio.CapacityLimiter(_DB_THREADS)

    def run_sync(self, fn: Callable[[Session], T], *, write: bool = False) -> T:
        """Run ``fn(session)`` in one transaction, committed if it returns."""
        with transaction(self.factory, write=write) as session:
            result = fn(session)
            # Detach loaded rows so callers can read them after the session closes.
            session.flush()
            session.expunge_all()
            return result

    async def run(self, fn: Callable[[Session], T], *, write: bool = False) -> T:
        return await anyio.to_thread.run_sync(lambda: self.run_sync(fn, write=write), limiter=self.limiter)

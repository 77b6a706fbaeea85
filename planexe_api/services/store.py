"""The async face of the sync plan store: each call is one transaction in a worker thread.

One exception, ``read_small`` on SQLite: a read of a few rows from a local
file costs ~0.1 ms, less than the hop to a worker thread and back (0.3 ms of
a 1.2 ms GET /plans/{id} in-process, 0.7 of 1.5 ms through uvicorn under
load), so it runs on the event loop, on a connection of its own. That connection is used only from the loop thread, one call at a
time, so taking it never waits: with the shared pool, a read could queue for
a connection behind writers waiting out SQLite's busy_timeout, and would hold
the whole loop while it did. WAL readers do not wait for the writer; in the
rare moments they must wait (a checkpoint resetting the log, recovery after a
crash) the read gives up after 50 ms and is retried in a worker thread. What
the loop still pays is a page read from disk when the row is not cached. On
PostgreSQL every call keeps the thread: a round trip to a server can take any
time, and the loop must not wait on it (an async driver would remove the hop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from planexe.log import get_logger
from planexe_api.db.engine import make_engine, make_session_factory, transaction
from planexe_api.db.errors import StoreBusy, StoreUnavailable

log = get_logger(__name__)

T = TypeVar("T")

OUTAGE_RETRY_S = 1.0  # seconds between tries of a write that must ride out a database outage
OUTAGE_TRIES = 30  # a database restart takes a few seconds; a failover up to half a minute

# Database calls get their own thread pool so a slow database cannot starve
# other to_thread users (file reads for the event tail, FastAPI's sync routes).
_DB_THREADS = 16


class Store:
    def __init__(
        self, factory: sessionmaker[Session], loop_factory: sessionmaker[Session] | None = None
    ) -> None:
        self.factory = factory
        self.loop_factory = loop_factory  # SQLite only: sessions for read_small, on the event loop
        self.limiter = anyio.CapacityLimiter(_DB_THREADS)

    @classmethod
    def open(cls, url: str) -> Store:
        """A store on ``url``; on a SQLite file, with the event loop's own read connection."""
        engine = make_engine(url)
        loop_factory = None
        if engine.dialect.name == "sqlite" and "memory" not in (engine.url.database or "memory"):
            loop_factory = make_session_factory(make_engine(url, single_connection=True))
        return cls(make_session_factory(engine), loop_factory)

    @property
    def engine(self) -> Engine:
        return self.factory.kw["bind"]

    def close(self) -> None:
        self.engine.dispose()
        if self.loop_factory is not None:
            self.loop_factory.kw["bind"].dispose()

    def run_sync(self, fn: Callable[[Session], T], *, write: bool = False) -> T:
        """Run ``fn(session)`` in one transaction, committed if it returns."""
        return _run(self.factory, fn, write)

    async def run(self, fn: Callable[[Session], T], *, write: bool = False) -> T:
        return await anyio.to_thread.run_sync(lambda: self.run_sync(fn, write=write), limiter=self.limiter)

    async def run_through_outage(
        self, fn: Callable[[Session], T], *, write: bool = True, what: str, tries: int = OUTAGE_TRIES
    ) -> T:
        """``run``, tried again while the database is unavailable (see ``through_outage``)."""
        return await through_outage(lambda: self.run(fn, write=write), what=what, tries=tries)

    async def read_small(self, fn: Callable[[Session], T]) -> T:
        """A read of a few rows by key: on the event loop on SQLite, else like ``run`` (see above)."""
        if self.loop_factory is None:
            return await self.run(fn)
        try:
            return _run(self.loop_factory, fn, False)
        except StoreBusy:
            # The file was locked past the loop connection's short busy_timeout: wait in a thread.
            return await self.run(fn)


async def through_outage(op: Callable[[], Awaitable[T]], *, what: str, tries: int = OUTAGE_TRIES) -> T:
    """Await ``op()``, again while the database is unavailable: for what a run cannot lose (its
    outcome, its last events, the outputs it restores). The last StoreUnavailable is raised."""
    attempt = 1
    while True:
        try:
            return await op()
        except StoreUnavailable as exc:
            if attempt >= tries:
                raise
            log.warning("store_retry", what=what, attempt=attempt, error=str(exc))
            await anyio.sleep(OUTAGE_RETRY_S)
            attempt += 1


def _run(factory: sessionmaker[Session], fn: Callable[[Session], T], write: bool) -> T:
    with transaction(factory, write=write) as session:
        result = fn(session)
        # Detach loaded rows so callers can read them after the session closes.
        session.flush()
        session.expunge_all()
        return result

"""Engines, sessions and the one way to open a transaction.

SQLite: WAL (readers never block the writer), foreign keys on, a 10 s busy
timeout, and SQLAlchemy (not the sqlite3 driver) emits BEGIN, so a write
transaction can start with ``BEGIN IMMEDIATE``: it takes the write lock before
its first read, which is what makes a claim exclusive, and waits (busy_timeout)
instead of failing when another writer holds the lock.

PostgreSQL: a pre-pinged, sized, recycled pool; exclusivity comes from row locks
(``FOR UPDATE SKIP LOCKED`` in the claim query), so ``write`` changes nothing there.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from planexe.settings import normalise_database_url
from planexe_api.db.errors import StoreBusy, StoreConflict, StoreError, StoreUnavailable

BUSY_TIMEOUT_MS = 10_000  # SQLite: how long a writer waits for the lock before "database is locked"
# SQLite, the single-connection engine for reads on the event loop: WAL readers wait only in rare
# moments (a checkpoint resetting the log, recovery after a crash); the loop must not wait with them.
LOOP_BUSY_TIMEOUT_MS = 50
PG_POOL_SIZE = 5  # connections kept open per process
PG_MAX_OVERFLOW = 10  # extra connections under load, closed when returned
PG_POOL_RECYCLE_S = 1800  # seconds; replace connections before proxies or servers drop them
PG_CONNECT_TIMEOUT_S = 10  # seconds; an unreachable server fails fast as StoreUnavailable
# seconds; the server ends a session left idle inside a transaction this long. A runner paused or
# cut off mid-transaction would otherwise keep its row locks, and the claim and recovery queries
# (SKIP LOCKED) would pass over its plans until TCP gave up, hours later. Ours last milliseconds.
PG_IDLE_IN_TRANSACTION_TIMEOUT_S = 5

# Connection execution option read by the SQLite "begin" hook: DEFERRED or IMMEDIATE.
SQLITE_BEGIN_OPTION = "planexe_sqlite_begin"
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


def make_engine(url: str, *, single_connection: bool = False) -> Engine:
    """An engine for a SQLite or PostgreSQL URL, configured as described in the module docstring.

    ``single_connection`` (SQLite): keep one connection; a checkout while it is
    in use opens another rather than waiting, and a locked database fails after
    ``LOOP_BUSY_TIMEOUT_MS`` (for code on an event loop, which must not block).
    """
    sa_url = make_url(normalise_database_url(url))
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        database = sa_url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _make_parent(Path(database).expanduser())
        pool_options = {"pool_size": 1, "max_overflow": -1} if single_connection else {}
        engine = create_engine(sa_url, **pool_options)
        event.listen(engine, "connect", _sqlite_on_connect)
        if single_connection:
            event.listen(engine, "connect", _sqlite_short_busy_timeout)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        return create_engine(
            sa_url,
            pool_pre_ping=True,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_MAX_OVERFLOW,
            pool_recycle=PG_POOL_RECYCLE_S,
            connect_args={
                "connect_timeout": PG_CONNECT_TIMEOUT_S,
                "application_name": "planexe",
                "options": f"-c idle_in_transaction_session_timeout={PG_IDLE_IN_TRANSACTION_TIMEOUT_S * 1000}",
            },
        )
    raise StoreError(f"unsupported database {backend!r}: use a sqlite:/// or postgresql:// URL")


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise StoreError(
            f"the SQLite database cannot be created at {path}: part of that path is a file, not a directory"
        ) from exc
    except OSError as exc:
        raise StoreError(f"the SQLite database cannot be created at {path}: {exc.strerror or exc}") from exc


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 driver (it would not emit it before SELECTs,
    # nor let us say IMMEDIATE); _sqlite_on_begin emits it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    # WAL is a property of the file, kept once set. Switching to it needs an exclusive
    # lock, and when two processes open a new database at once SQLite can answer
    # "database is locked" at once, without waiting out busy_timeout (it refuses
    # to wait where waiting could deadlock), so the switch is retried here.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA busy_timeout = {LOOP_BUSY_TIMEOUT_MS}")


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    if mode not in _BEGIN_MODES:
        raise ValueError(f"{SQLITE_BEGIN_OPTION} must be one of {sorted(_BEGIN_MODES)}, not {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, so a worker thread can hand them back."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back if it raises.

    ``write=True`` on SQLite begins with ``BEGIN IMMEDIATE`` (the write lock is
    taken now, waiting up to busy_timeout); use it for every block that writes,
    because a deferred transaction that reads and then writes can fail at once
    with "database is locked" when another writer got in between. Driver errors
    leave as :class:`StoreError` subclasses.
    """
    session = factory()
    try:
        with db_errors(), session.begin():
            if write and session.get_bind().dialect.name == "sqlite":
                session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            yield session
    finally:
        session.close()


@contextmanager
def db_errors() -> Iterator[None]:
    """Turn driver errors raised inside the block into :class:`StoreError`."""
    try:
        yield
    except DBAPIError as exc:
        raise translate_error(exc) from exc
    except PoolTimeoutError as exc:
        raise StoreUnavailable(f"no database connection free in the pool: {exc}") from exc


def translate_error(exc: DBAPIError) -> StoreError:
    detail = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        if "locked" in detail or "busy" in detail:
            return StoreBusy(f"the database stayed locked by another writer: {detail}")
        return StoreUnavailable(f"the database is unavailable: {detail}")
    if isinstance(exc, IntegrityError):
        return StoreConflict(f"the change conflicts with stored data: {detail}")
    return StoreError(f"the database refused the statement: {detail}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

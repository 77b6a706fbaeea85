"""Store.read_small: on the event loop on SQLite, in a worker thread on PostgreSQL."""

from __future__ import annotations

import threading

import anyio
from sqlalchemy.orm import Session

from planexe_api.db.errors import StoreBusy
from planexe_api.services.store import Store


def test_small_reads_run_on_the_loop_only_on_sqlite(store: Store) -> None:
    threads: list[threading.Thread] = []

    def read(session: Session) -> int:
        threads.append(threading.current_thread())
        return 1

    async def main() -> None:
        assert await store.read_small(read) == 1
        assert await store.run(read) == 1

    anyio.run(main)
    loop_thread = threading.current_thread()
    on_loop = store.engine.dialect.name == "sqlite"
    assert (threads[0] is loop_thread) == on_loop
    assert threads[1] is not loop_thread


def test_a_locked_database_moves_the_read_to_a_thread(store: Store) -> None:
    loop_thread = threading.current_thread()

    def read(session: Session) -> str:
        if threading.current_thread() is loop_thread:
            raise StoreBusy("the database stayed locked by another writer: database is locked")
        return "read in a thread"

    assert anyio.run(store.read_small, read) == "read in a thread"

"""A PostgreSQL database made unavailable to its clients, for tests of outages."""

from __future__ import annotations

from typing import Any


class DatabaseOutage:
    """An outage of one PostgreSQL database, as its clients see a server restart: every connection
    dropped, new ones refused until ``end``. The server keeps running, so other databases on it
    (other test runs share this machine's server) are untouched, which a real restart would not be."""

    def __init__(self, admin: Any, url: str) -> None:
        from sqlalchemy import make_url

        self.admin = admin
        self.name = make_url(url).database

    def begin(self) -> None:
        from sqlalchemy import text

        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": self.name},
            )

    def end(self) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

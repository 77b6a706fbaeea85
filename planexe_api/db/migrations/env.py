"""Alembic environment for PlanExe (SQLite and PostgreSQL).

The URL comes from ``config.attributes["url"]`` (set by planexe_api.db.migrate),
else from the settings (PLANEXE_DATABASE_URL, DATABASE_URL, embedded SQLite).
On SQLite: batch mode (ALTER TABLE by rebuilding the table), foreign keys off
while migrating (a rebuilt parent table would otherwise cascade deletes into
its children), and the whole upgrade in one BEGIN IMMEDIATE transaction, so a
second process upgrading at the same moment waits, then finds nothing to do.
PostgreSQL gets the same effect from an advisory lock taken in the migration
transaction.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import make_url
from sqlalchemy.engine import Connection

from planexe.settings import get_settings, normalise_database_url
from planexe_api.db.engine import SQLITE_BEGIN_OPTION, make_engine
from planexe_api.db.models import Base

MIGRATION_LOCK_ID = 0x706C616E657865  # PostgreSQL advisory lock key held while migrating ("planexe")

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("url") or get_settings().effective_database_url()
    return normalise_database_url(url)


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=make_url(url).get_backend_name() == "sqlite",
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_with_connection(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        # SQLite does run DDL inside transactions once the driver stops
        # committing on its own (planexe_api.db.engine takes BEGIN over).
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if not sqlite:
            # Replicas upgrading at the same moment take turns; the later ones find nothing to do.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # Outside any transaction (SQLite ignores this PRAGMA inside one).
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
                connection = connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            run_with_connection(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

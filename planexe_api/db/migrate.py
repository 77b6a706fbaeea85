"""Schema migrations, driven from code (there is no alembic.ini).

Embedded SQLite is upgraded automatically at startup: it belongs to this one
process tree. PostgreSQL is shared by replicas that may run different releases
during a deploy, so the service only checks it and an operator (or the deploy's
release step) runs ``planexe db upgrade``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from planexe.settings import normalise_database_url
from planexe_api.db.engine import db_errors, make_engine
from planexe_api.db.errors import SchemaOutdated, StoreError

# Inside the package (package data), so a wheel or a plain `pip install .` can upgrade a database.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for ``url`` (None: env.py falls back to the settings)."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise StoreError(
            f"the migrations directory was not found at {MIGRATIONS_DIR}; "
            "the installation is incomplete (reinstall planexe)"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # An attribute, not a main option: ConfigParser would read '%' in passwords as interpolation.
        config.attributes["url"] = normalise_database_url(url)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(bind: Engine | Connection) -> str | None:
    """The revision the database is at; None for an empty (never migrated) database."""
    with db_errors():
        if isinstance(bind, Connection):
            return MigrationContext.configure(bind).get_current_revision()
        with bind.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()


def is_current(bind: Engine | Connection) -> bool:
    return current_revision(bind) == head_revision()


def upgrade(url: str, revision: str = "head") -> None:
    with db_errors():
        command.upgrade(alembic_config(url), revision)


def outdated_message(current: str | None, head: str) -> str:
    if current is not None and current not in known_revisions():
        return (
            f"the database schema is at {current}, which this release does not know "
            f"(a newer release migrated it?); this release needs {head}"
        )
    return f"the database schema is at {current or 'none (empty database)'}, this release needs {head}: run `planexe db upgrade`"


def ensure_schema(url: str, *, auto_upgrade: bool | None = None) -> str:
    """Make sure the schema is current; returns the head revision.

    ``auto_upgrade`` None means: upgrade SQLite, only check PostgreSQL. When not
    upgrading and not current, raises :class:`SchemaOutdated` saying what to run.
    """
    engine = make_engine(url)
    try:
        current = current_revision(engine)
        dialect = engine.dialect.name
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        return head
    if auto_upgrade is None:
        auto_upgrade = dialect == "sqlite"
    if not auto_upgrade or (current is not None and current not in known_revisions()):
        raise SchemaOutdated(outdated_message(current, head))
    upgrade(url)
    return head

"""Shared fixtures: a clean PLANEXE_* environment for every test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planexe.settings import get_settings


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PLANEXE_") or name in ("LUIGI_WORKERS", "DATABASE_URL"):
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# Database fixtures (planexe_api.db). Every storage test runs on SQLite and on
# PostgreSQL, each time on a clean copy of a schema migrated once per session:
# SQLite copies the migrated file. PostgreSQL clones the migrated template
# database (CREATE DATABASE ... TEMPLATE) once, then resets that clone to the
# template's state before each test (TRUNCATE ... RESTART IDENTITY, ~35 ms); a
# clone and a drop per test cost ~1.1 s on a disk with real fsync, which for
# ~50 tests breaks the one-minute budget. PLANEXE_TEST_PG_CLONE_PER_TEST=1 gives
# every test its own clone instead. Read at import, before clean_environ runs.
POSTGRES_ADMIN_URL = os.environ.get(
    "PLANEXE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_CLONE_PER_TEST = os.environ.get("PLANEXE_TEST_PG_CLONE_PER_TEST", "") not in ("", "0")


def _postgres_url(database: str) -> str:
    from sqlalchemy import make_url

    return make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


class PostgresClones:
    """Databases cloned from the session's migrated template, and the shared one reset per test."""

    def __init__(self, admin: Any, template: str) -> None:
        self.admin = admin
        self.template = template
        self.shared: str | None = None

    def clone(self) -> str:
        name = f"planexe_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        from sqlalchemy import text

        with self.admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def clean_shared(self) -> str:
        """The shared clone with the template's contents: empty tables, identities restarted."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import NullPool

        from planexe_api.db.migrate import head_revision
        from planexe_api.db.models import Base

        if self.shared is None:
            self.shared = self.clone()
            return self.shared
        with self.admin.connect() as connection:  # connections a test leaked would block TRUNCATE
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.shared},
            )
        engine = create_engine(_postgres_url(self.shared), poolclass=NullPool)
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        try:
            with engine.begin() as connection:
                if connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() != [
                    head_revision()
                ]:
                    raise LookupError("a test changed the schema")
                connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        except (DBAPIError, LookupError):
            self.drop(self.shared)
            self.shared = self.clone()
        finally:
            engine.dispose()
        return self.shared


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Any]:
    """An AUTOCOMMIT engine on the server's admin database; fails under CI=..., skips elsewhere."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    admin = create_engine(
        POSTGRES_ADMIN_URL,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        reason = (
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({str(exc.orig).strip().splitlines()[0]})"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the postgres storage tests must run", pytrace=False)
        pytest.skip(f"{reason}; set PLANEXE_TEST_POSTGRES_URL, or CI=1 to make this a failure")
    yield admin
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_clones(postgres_admin: Any) -> Iterator[PostgresClones]:
    from planexe_api.db.migrate import upgrade

    template = f"planexe_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{template}"')
    clones = PostgresClones(postgres_admin, template)
    try:
        upgrade(_postgres_url(template))
        yield clones
    finally:
        if clones.shared is not None:
            clones.drop(clones.shared)
        clones.drop(template)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from planexe_api.db.migrate import upgrade

    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


DB_PARAMS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DB_PARAMS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a migrated database, with no rows, that no other test is using."""
    if request.param == "sqlite":
        target = tmp_path / "planexe.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    clones: PostgresClones = request.getfixturevalue("postgres_clones")
    if not PG_CLONE_PER_TEST:
        yield _postgres_url(clones.clean_shared())
        return
    name = clones.clone()
    try:
        yield _postgres_url(name)
    finally:
        clones.drop(name)


@pytest.fixture(params=DB_PARAMS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty (never migrated) database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin = request.getfixturevalue("postgres_admin")
    name = f"planexe_e_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name)
    finally:
        PostgresClones(admin, "").drop(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    from planexe_api.db.engine import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Any]:
    """The service's Store on the test database (SQLite and PostgreSQL), closed afterwards."""
    from planexe_api.services.store import Store

    opened = Store.open(db_url)
    yield opened
    opened.close()


@pytest.fixture
def session_factory(engine: Any) -> Any:
    from planexe_api.db.engine import make_session_factory

    return make_session_factory(engine)

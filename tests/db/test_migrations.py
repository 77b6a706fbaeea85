"""Migrations on SQLite and PostgreSQL: from empty to head, agreement with the models, schema checks, CLI."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from planexe_api.db import cli, migrate
from planexe_api.db.engine import make_engine
from planexe_api.db.errors import SchemaOutdated, StoreError
from planexe_api.db.models import Base

TABLES = {
    "plans",
    "plan_events",
    "plan_files",
    "llm_usage",
    "workers",
    "llm_permit_shares",
    "plan_llm_calls",
    "plan_file_versions",
    "plan_deletions",
}


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_makes_it_current(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert migrate.current_revision(engine) is None and not migrate.is_current(engine)
        migrate.upgrade(empty_db_url)
        assert migrate.current_revision(engine) == migrate.head_revision() is not None
        assert migrate.is_current(engine)
        with engine.connect() as connection:
            assert migrate.is_current(connection)
        assert tables(engine) == TABLES
        command.downgrade(migrate.alembic_config(empty_db_url), "base")
        assert tables(engine) == set() and migrate.current_revision(engine) is None
        migrate.upgrade(empty_db_url)
        assert tables(engine) == TABLES
    finally:
        engine.dispose()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_ensure_schema_upgrades_sqlite_and_refuses_postgres(empty_db_url: str) -> None:
    if empty_db_url.startswith("sqlite"):
        assert migrate.ensure_schema(empty_db_url) == migrate.head_revision()
    else:
        expected = (
            "the database schema is at none (empty database), this release needs "
            + migrate.head_revision()
            + ": run `planexe db upgrade`"
        )
        with pytest.raises(SchemaOutdated) as caught:
            migrate.ensure_schema(empty_db_url)
        assert str(caught.value) == expected
        assert migrate.ensure_schema(empty_db_url, auto_upgrade=True) == migrate.head_revision()
    assert migrate.ensure_schema(empty_db_url, auto_upgrade=False) == migrate.head_revision()


def test_a_revision_this_release_does_not_know_is_refused(db_url: str, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002_future'"))
    assert not migrate.is_current(engine)
    with pytest.raises(SchemaOutdated, match="at 0002_future, which this release does not know"):
        migrate.ensure_schema(db_url, auto_upgrade=True)


def test_concurrent_upgrades_take_turns(empty_db_url: str) -> None:
    code = "import sys; from planexe_api.db.migrate import upgrade; upgrade(sys.argv[1])"
    children = [subprocess.Popen([sys.executable, "-c", code, empty_db_url]) for _ in range(2)]
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    engine = make_engine(empty_db_url)
    try:
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="planexe db")
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(list(argv)))


def test_cli_check_upgrade_current(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = ["--database-url", empty_db_url]
    assert run_cli(*url, "check") == 1
    assert "run `planexe db upgrade`" in capsys.readouterr().err
    assert run_cli(*url, "upgrade") == 0
    assert f"upgraded from empty to {migrate.head_revision()}" in capsys.readouterr().out
    assert run_cli(*url, "check") == 0
    assert run_cli(*url, "current") == 0
    assert f"database: {migrate.head_revision()}" in capsys.readouterr().out


def test_cli_reports_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    from planexe.cli import main

    assert main(["db", "--database-url", "postgresql://nobody:secret@127.0.0.1:9/none", "check"]) == 3
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: the database is unavailable")
    assert "secret" not in err and "check --database-url" in err


def test_missing_migrations_directory_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path / "migrations")
    with pytest.raises(StoreError, match="migrations directory was not found"):
        migrate.head_revision()

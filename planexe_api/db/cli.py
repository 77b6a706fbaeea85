"""``planexe db``: upgrade, show or check the database schema.

Exit codes: 0 done / current, 1 the schema is outdated (``check``), 3 the
database could not be used (unreachable, unknown revision, ...), said in one
line by ``planexe/cli.py``.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import make_url

from planexe.errors import CannotStart
from planexe.settings import Settings, check_database_url, get_settings, normalise_database_url
from planexe_api.db import migrate
from planexe_api.db.engine import make_engine
from planexe_api.db.errors import StoreError
from planexe_api.startup import database_problem

HELP = "database schema: upgrade, current, check"  # the line `planexe --help` shows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="default: PLANEXE_DATABASE_URL, then DATABASE_URL, then SQLite in PLANEXE_DATA_DIR",
    )
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    actions.add_parser("upgrade", help="migrate the database to this release's schema")
    actions.add_parser("current", help="print the database's schema revision and this release's")
    actions.add_parser("check", help="exit 1 if the database schema is not this release's")


def run(args: argparse.Namespace) -> int:
    settings: Settings | None = None
    if args.database_url:
        try:
            check_database_url(normalise_database_url(args.database_url))
        except ValueError as exc:
            raise CannotStart(f"--database-url: {exc}") from None
        url = args.database_url
    else:
        settings = get_settings()
        url = settings.effective_database_url()
    shown = make_url(normalise_database_url(url)).render_as_string(hide_password=True)
    try:
        engine = make_engine(url)
        try:
            before = migrate.current_revision(engine)
        finally:
            engine.dispose()
        head = migrate.head_revision()
        if args.db_action == "upgrade":
            if before == head:
                print(f"{shown}: already at {head}")
            else:
                migrate.upgrade(url)
                print(f"{shown}: upgraded from {before or 'empty'} to {head}")
            return 0
        if args.db_action == "current":
            print(f"database: {before or 'empty'}\nrelease:  {head}\n({shown})")
            return 0
        if before != head:
            print(migrate.outdated_message(before, head), file=sys.stderr)
            return 1
        print(f"{shown}: schema is current ({head})")
        return 0
    except StoreError as exc:
        if settings is not None:
            raise CannotStart(database_problem(exc, settings)) from exc
        raise CannotStart(f"{exc} ({shown}); check --database-url") from exc

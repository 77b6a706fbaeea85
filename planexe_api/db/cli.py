"""``planexe db``: upgrade, show or check the database schema.

Exit codes: 0 done / current, 1 the schema is outdated (``check``), 2 the
database could not be used (unreachable, unknown revision, ...).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import make_url

from planexe.settings import get_settings, normalise_database_url
from planexe_api.db import migrate
from planexe_api.db.engine import make_engine
from planexe_api.db.errors import StoreError

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
    url = args.database_url or get_settings().effective_database_url()
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
        print(f"error: {exc}", file=sys.stderr)
        return 2

"""``INSERT ... ON CONFLICT`` for the database a session is bound to.

SQLAlchemy has the upsert only in its dialect modules; both build the same SQL
(``ON CONFLICT (...) DO UPDATE SET ... WHERE ...``, ``excluded.<column>``).
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from planexe_api.db.errors import StoreError


def insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"no upsert for database {name!r}")

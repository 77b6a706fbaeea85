"""Helpers for storage tests: a fixed clock and short transactions as the service opens them."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from planexe_api.db.engine import transaction
from planexe_api.db.models import Plan
from planexe_api.db.repo_leases import claim_next
from planexe_api.db.repo_plans import create_plan, get_plan

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # "now" in these tests
LEASE_S = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Store:
    """Short transactions against the test database, as the service would open them."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def write(self) -> AbstractContextManager[Session]:
        return transaction(self.factory, write=True)

    def read(self) -> AbstractContextManager[Session]:
        return transaction(self.factory)

    def add_plan(self, *, now: datetime = T0, prompt: str = "Open a bakery", **fields: Any) -> str:
        with self.write() as session:
            return create_plan(session, prompt=prompt, now=now, **fields).id

    def claim(self, worker_id: str = "w1", *, now: datetime = T0, lease_s: float = LEASE_S) -> Plan | None:
        with self.write() as session:
            return claim_next(session, worker_id=worker_id, lease_s=lease_s, now=now)

    def get(self, plan_id: str) -> Plan:
        with self.read() as session:
            plan = get_plan(session, plan_id)
        assert plan is not None
        return plan

"""The ``refused`` status on both databases: stored by a fenced finish, final, and migrated both ways."""

from __future__ import annotations

import pytest
from alembic import command
from dbhelpers import Store, at
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from planexe_api.db import migrate
from planexe_api.db.engine import make_engine
from planexe_api.db.errors import InvalidTransition, StoreError
from planexe_api.db.models import PlanStatus
from planexe_api.db.repo_leases import finish_plan
from planexe_api.db.repo_plans import count_by_status, list_plans, resume_plan


def refuse(store: Store) -> str:
    plan_id = store.add_plan(prompt="Plan an attack")
    claimed = store.claim()
    assert claimed is not None and claimed.id == plan_id
    with store.write() as session:
        assert finish_plan(
            session,
            plan_id=plan_id,
            token=claimed.fencing_token,
            status=PlanStatus.REFUSED,
            error_code="refused",
            error_message="PlanExe will not plan this.",
            now=at(5),
        )
    return plan_id


def test_a_refused_plan_is_stored_final_and_listed(store: Store) -> None:
    plan_id = refuse(store)
    plan = store.get(plan_id)
    assert (plan.status, plan.error_code, plan.lease_owner) == ("refused", "refused", None)
    assert plan.plan_status.is_terminal
    with store.read() as session:
        assert count_by_status(session)[PlanStatus.REFUSED] == 1
        assert [p.id for p in list_plans(session, status="refused").plans] == [plan_id]
    with store.write() as session, pytest.raises(InvalidTransition):
        resume_plan(session, plan_id, now=at(10))


def test_the_database_refuses_a_status_it_does_not_know(store: Store) -> None:
    plan_id = store.add_plan()
    with pytest.raises((IntegrityError, StoreError)), store.write() as session:
        session.execute(text("UPDATE plans SET status = 'bogus' WHERE id = :id"), {"id": plan_id})


def test_downgrading_turns_refused_plans_into_failed_ones(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        from planexe_api.db.engine import make_session_factory

        store = Store(make_session_factory(engine))
        plan_id = refuse(store)
        command.downgrade(migrate.alembic_config(empty_db_url), "0006")
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT status, error_code FROM plans WHERE id = :id"), {"id": plan_id}
            ).one()
            assert tuple(row) == ("failed", "refused")
        with pytest.raises((IntegrityError, StoreError)), engine.begin() as connection:
            connection.execute(text("UPDATE plans SET status = 'refused' WHERE id = :id"), {"id": plan_id})
        migrate.upgrade(empty_db_url)
        assert migrate.is_current(engine)
    finally:
        engine.dispose()

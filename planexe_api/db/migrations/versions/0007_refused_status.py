"""The ``refused`` status: a plan the safety gate declined to make.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

A refused plan is final, like a completed one: it is never retried by recovery
and cannot be resumed. The status check of ``plans`` gains the value; a
downgrade turns refused plans into failed ones with error code ``refused``, so
the older release still shows why they ended. See docs/api.md, "Statuses".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD = "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')"
NEW = "status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'refused')"


# 0001 passed an already prefixed name through the naming convention; the models name it ck_plans_status.
OLD_NAME = "ck_plans_ck_plans_status"
NEW_NAME = "ck_plans_status"


def upgrade() -> None:
    _replace_status_check(OLD_NAME, NEW_NAME, NEW)


def downgrade() -> None:
    op.execute(
        sa.text("UPDATE plans SET status = 'failed', error_code = 'refused' WHERE status = 'refused'")
    )
    _replace_status_check(NEW_NAME, OLD_NAME, OLD)


def _replace_status_check(old_name: str, new_name: str, condition: str) -> None:
    # On SQLite, batch mode rebuilds the table (the constraint is reflected from its CREATE statement).
    with op.batch_alter_table("plans") as batch:
        batch.drop_constraint(op.f(old_name), type_="check")
        batch.create_check_constraint(op.f(new_name), condition)

"""Where each worker keeps run directories, and the run directories of deleted plans still to be removed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("runs_dir", sa.String(500), nullable=True))
    op.create_table(
        "plan_deletions",
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("runs_dir", sa.String(500), nullable=False),
        sa.Column("deleted_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "host", "runs_dir", name="pk_plan_deletions"),
    )
    op.create_index("ix_plan_deletions_host", "plan_deletions", ["host", "runs_dir"])


def downgrade() -> None:
    op.drop_index("ix_plan_deletions_host", table_name="plan_deletions")
    op.drop_table("plan_deletions")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("runs_dir")

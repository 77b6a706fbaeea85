"""Earlier versions of output files: what a rerun replaced, kept to be listed and read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``POST /plans/{id}/rerun`` moves the stored outputs of the tasks it invalidates
from ``plan_files`` into ``plan_file_versions`` in the transaction that queues
the plan again. Versions are numbered per file name from 1. See
docs/database.md and docs/api.md, "Regenerate a section".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plan_file_versions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("superseded_at", UTC_TIME, nullable=False),
        sa.Column("rerun", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plan_file_versions"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name="fk_plan_file_versions_plan_id_plans", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "plan_id", "name", "version", name="uq_plan_file_versions_plan_id_name_version"
        ),
    )


def downgrade() -> None:
    op.drop_table("plan_file_versions")

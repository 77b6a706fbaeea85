"""Call checkpoints: every validated LLM answer of a plan, so no later run pays for it again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

``plan_llm_calls`` holds the files of the run directory's ``calls/`` folder (one
per accepted answer, named ``calls/<task>/<key>.json``), shipped as they appear
and restored before a run, so a plan recovered on another machine reuses them.
See docs/pipeline.md, "Call checkpoints".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plan_llm_calls",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plan_llm_calls"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name="fk_plan_llm_calls_plan_id_plans", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("plan_id", "name", name="uq_plan_llm_calls_plan_id_name"),
    )


def downgrade() -> None:
    op.drop_table("plan_llm_calls")

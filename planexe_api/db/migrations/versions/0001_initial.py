"""The plan store: plans, their events, files and LLM usage, and the workers that run them.

Revision ID: 0001
Revises:
Create Date: 2025-11-22

Times are UTC (timestamptz on PostgreSQL, ISO text on SQLite). Constraint names
follow planexe_api.db.models.NAMING_CONVENTION so later batch migrations on
SQLite can name what they alter. See docs/database.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# BIGINT keys are not rowid aliases on SQLite and would not autoincrement there.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)
ZERO = sa.text("'0'")


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("detail", sa.String(16), nullable=False),
        sa.Column("llm_model", sa.String(200), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        # claims and leases
        sa.Column("attempt", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", UTC_TIME, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        # progress
        sa.Column("progress_done", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("progress_total", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("running_tasks", sa.JSON(), nullable=False),
        sa.Column("llm_calls", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), server_default=ZERO, nullable=False),
        # outcome
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("failed_task", sa.String(200), nullable=True),
        # times
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("queued_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=True),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("last_event_seq", sa.Integer(), server_default=ZERO, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans"),
        sa.UniqueConstraint("idempotency_key", name="uq_plans_idempotency_key"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="ck_plans_status"
        ),
    )
    # The claim: WHERE status = 'queued' ORDER BY priority DESC, created_at, id.
    op.create_index("ix_plans_claim", "plans", ["status", "priority", "created_at"])
    # Recovery: WHERE status = 'running' AND lease_expires_at <= now.
    op.create_index("ix_plans_lease", "plans", ["status", "lease_expires_at"])
    # Listing, newest first.
    op.create_index("ix_plans_created", "plans", ["created_at", "id"])

    op.create_table(
        "plan_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plan_events"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name="fk_plan_events_plan_id_plans", ondelete="CASCADE"
        ),
        # Also the index of events_after (plan_id, seq > n).
        sa.UniqueConstraint("plan_id", "seq", name="uq_plan_events_plan_id_seq"),
    )

    op.create_table(
        "plan_files",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plan_files"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name="fk_plan_files_plan_id_plans", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("plan_id", "name", name="uq_plan_files_plan_id_name"),
    )

    op.create_table(
        "llm_usage",
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("calls", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default=ZERO, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), server_default=ZERO, nullable=False),
        sa.Column("latency_s_total", sa.Float(), server_default=ZERO, nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "model", name="pk_llm_usage"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name="fk_llm_usage_plan_id_plans", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "workers",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("heartbeat_at", UTC_TIME, nullable=False),
        sa.Column("stopped_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("llm_usage")
    op.drop_table("plan_files")
    op.drop_table("plan_events")
    op.drop_index("ix_plans_created", table_name="plans")
    op.drop_index("ix_plans_lease", table_name="plans")
    op.drop_index("ix_plans_claim", table_name="plans")
    op.drop_table("plans")

"""Each runner's leased part of a provider key's limits, so that they hold across replicas.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "llm_permit_shares",
        sa.Column("limit_key", sa.String(40), nullable=False),
        sa.Column("worker_id", sa.String(100), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("demand", sa.Integer(), nullable=False),
        sa.Column("in_flight_until", UTC_TIME, nullable=False),
        sa.Column("window_until", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("limit_key", "worker_id", name="pk_llm_permit_shares"),
    )


def downgrade() -> None:
    op.drop_table("llm_permit_shares")

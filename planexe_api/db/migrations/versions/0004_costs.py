"""LLM cost: what a plan's calls cost, in total and by model.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``plans.cost_usd`` and ``llm_usage.cost_usd`` add up the cost of every LLM
attempt (priced from the model's configured USD per million tokens). NULL
means no attempt had a price: the cost is unknown, not zero. See
docs/llm-providers.md, "Cost and budgets".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))
    with op.batch_alter_table("llm_usage") as batch:
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("llm_usage") as batch:
        batch.drop_column("cost_usd")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("cost_usd")

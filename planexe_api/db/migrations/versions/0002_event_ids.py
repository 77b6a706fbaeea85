"""Event ids: each line the pipeline writes to events.jsonl is stored once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``plan_events.eid`` is the random id the pipeline gives every line it writes
(NULL for the service's own events). A run ships the lines of its run
directory whose ids are not stored yet, which recovers the last lines a
crashed run wrote but never shipped; the unique constraint makes shipping one
line twice impossible. See docs/database.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_events") as batch:
        batch.add_column(sa.Column("eid", sa.String(32), nullable=True))
        batch.create_unique_constraint("uq_plan_events_plan_id_eid", ["plan_id", "eid"])


def downgrade() -> None:
    with op.batch_alter_table("plan_events") as batch:
        batch.drop_constraint("uq_plan_events_plan_id_eid", type_="unique")
        batch.drop_column("eid")

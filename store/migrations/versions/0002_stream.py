"""The stream wiring: helpdesk event ids (idempotent ``POST /v1/events``) and each post's critical triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("posts", sa.Column("triggers", sa.JSON(), nullable=True))
    op.add_column("events", sa.Column("event_id", sa.String(200), nullable=True))
    op.create_index("ix_events_event_id", "events", ["event_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_events_event_id", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("event_id")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("triggers")

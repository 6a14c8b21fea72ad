"""The post store: posts, their identity hashes, identity links, helpdesk events, the audit log, state.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)

AUDIT_TRIGGERS = {
    "sqlite": (
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$",
        "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
        "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
    ),
}
DROP_TRIGGERS = {
    "sqlite": ("DROP TRIGGER IF EXISTS audit_no_update", "DROP TRIGGER IF EXISTS audit_no_delete"),
    "postgresql": (
        "DROP TRIGGER IF EXISTS audit_no_change ON audit",
        "DROP TRIGGER IF EXISTS audit_no_truncate ON audit",
        "DROP FUNCTION IF EXISTS audit_append_only()",
    ),
}


def _posts() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("author_hash", sa.String(64), nullable=True),
        sa.Column("customer_key", sa.String(40), nullable=True),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("thread_id", sa.String(200), nullable=True),
        sa.Column("parent_id", sa.String(200), nullable=True),
        sa.Column("redacted_text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("priority", sa.String(8), nullable=True),
        sa.Column("rule", sa.String(200), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("needs_human", sa.Boolean(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("schema_name", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("triaged_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
    )
    op.create_index("ix_posts_author_hash", "posts", ["author_hash"])
    op.create_index("ix_posts_customer_id", "posts", ["customer_id"])
    op.create_index("ix_posts_brand_created_at", "posts", ["brand", "created_at"])
    op.create_index("ix_posts_customer_key_created_at", "posts", ["customer_key", "created_at"])
    op.create_index("ix_posts_thread_id_created_at", "posts", ["thread_id", "created_at"])
    op.create_index("ix_posts_brand_text_hash", "posts", ["brand", "text_hash"])


def _identities() -> None:
    op.create_table(
        "post_identities",
        sa.Column("post_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_post_identities_post_id_posts", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "kind", "digest", name="pk_post_identities"),
    )
    op.create_index("ix_post_identities_kind_digest", "post_identities", ["kind", "digest"])
    op.create_table(
        "identity_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("customer_key", sa.String(40), nullable=False),
        sa.Column("first_seen_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_links"),
        sa.UniqueConstraint("brand", "kind", "digest", name="uq_identity_links_brand_kind_digest"),
    )
    op.create_index("ix_identity_links_customer_key", "identity_links", ["customer_key"])


def _events_audit_state() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("post_id", sa.String(200), nullable=False),
        sa.Column("thread_id", sa.String(200), nullable=True),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.CheckConstraint("kind IN ('replied', 'assigned', 'resolved', 'hidden')", name="ck_events_kind"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_events_post_id_posts", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_post_id", "events", ["post_id"])
    op.create_index("ix_events_thread_id_kind_at", "events", ["thread_id", "kind", "at"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_table(
        "state",
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "key", name="pk_state"),
    )


def upgrade() -> None:
    _posts()
    _identities()
    _events_audit_state()
    for statement in AUDIT_TRIGGERS.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
    for table in ("state", "audit", "events", "identity_links", "post_identities", "posts"):
        op.drop_table(table)

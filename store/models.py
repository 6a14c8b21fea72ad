"""The post store's tables (SQLAlchemy 2 typed models). Alembic migrations in ``store/migrations`` create them.

Nothing here holds raw personal data: post text is the engine's redacted text, authors and identifiers are
keyed hashes (``triage.context.identity``), free text (event notes, audit reasons) is redacted on the way in.
Times are stored in UTC and read back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

EVENT_KINDS: tuple[str, ...] = ("replied", "assigned", "resolved", "hidden")
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
ID = 200  # length of external ids (posts, threads, customers)
HASH = 64  # hex HMAC-SHA256


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC (SQLite keeps no zone: naive values read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only takes timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class PostRow(Base):
    """One triaged post: redacted text, decision, model version, references and pseudonymous author."""

    __tablename__ = "posts"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    author_hash: Mapped[str | None] = mapped_column(String(HASH), index=True)
    customer_key: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(ID), index=True)
    thread_id: Mapped[str | None] = mapped_column(String(ID))
    parent_id: Mapped[str | None] = mapped_column(String(ID))
    redacted_text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str | None] = mapped_column(String(HASH))
    language: Mapped[str | None] = mapped_column(String(8))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    queue: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(8))
    rule: Mapped[str | None] = mapped_column(String(ID))
    actions: Mapped[list[Any]] = mapped_column(JSON)
    needs_human: Mapped[bool | None] = mapped_column(Boolean)
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(ID))
    schema_name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    triaged_at: Mapped[datetime] = mapped_column(UtcDateTime)
    triggers: Mapped[list[Any] | None] = mapped_column(JSON)  # 0002: the decision's critical triggers

    __table_args__ = (
        Index("ix_posts_brand_created_at", "brand", "created_at"),
        Index("ix_posts_customer_key_created_at", "customer_key", "created_at"),
        Index("ix_posts_thread_id_created_at", "thread_id", "created_at"),
        Index("ix_posts_brand_text_hash", "brand", "text_hash"),
    )


class PostIdentityRow(Base):
    """The keyed hashes of the phones, e-mails and order numbers seen in one post."""

    __tablename__ = "post_identities"

    post_id: Mapped[str] = mapped_column(String(ID), ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(HASH), primary_key=True)

    __table_args__ = (Index("ix_post_identities_kind_digest", "kind", "digest"),)


class IdentityLinkRow(Base):
    """Per brand: keyed hash of a customer id, handle, phone, e-mail or order number -> customer key."""

    __tablename__ = "identity_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(HASH))
    customer_key: Mapped[str] = mapped_column(String(40), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("brand", "kind", "digest"),)


class EventRow(Base):
    """A helpdesk event on a post: replied, assigned, resolved or hidden, by whom and when."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    post_id: Mapped[str] = mapped_column(String(ID), ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[str | None] = mapped_column(String(ID))
    brand: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(ID))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    event_id: Mapped[str | None] = mapped_column(String(ID))  # 0002: the helpdesk's id, for idempotent retries

    __table_args__ = (
        CheckConstraint("kind IN ('replied', 'assigned', 'resolved', 'hidden')", name="kind"),
        Index("ix_events_thread_id_kind_at", "thread_id", "kind", "at"),
        Index("ix_events_event_id", "event_id", unique=True),
    )


class AuditRow(Base):
    """Append-only: automated actions and model changes (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(ID))
    action: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(ID))
    subject: Mapped[str | None] = mapped_column(String(ID))
    reason: Mapped[str] = mapped_column(Text)


class StateRow(Base):
    """Small serialised states with a version for compare-and-set (the crisis detector's, per brand)."""

    __tablename__ = "state"

    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(ID), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The same statements as migration 0001: ``Base.metadata.create_all`` (tests) gets the triggers too.
AUDIT_TRIGGERS: dict[str, tuple[str, ...]] = {
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


@event.listens_for(AuditRow, "before_update")
@event.listens_for(AuditRow, "before_delete")
def _refuse_audit_change(*_: Any) -> None:
    # The triggers guard SQLite and PostgreSQL against any statement; this guards the ORM on other databases.
    raise PermissionError("the audit table is append-only")


@event.listens_for(AuditRow.__table__, "after_create")
def _create_audit_triggers(target: Any, connection: Any, **_: Any) -> None:
    for statement in AUDIT_TRIGGERS.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)

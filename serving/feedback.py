"""Agents' corrections, stored in a real database for the next ``triage train``.

SQLite by default; any SQLAlchemy URL by setting ``TRIAGE_DATABASE_URL`` (PostgreSQL:
``postgresql+psycopg://user:pass@host/db`` with ``pip install "psycopg[binary]"``). The table::

    feedback(id, post_id, head, label, note, redacted_text, model_version, tenant, created_at)

The post's text and the agent's note are stored only after redaction by the engine's entity stage
(phones, emails, Israeli IDs and cards replaced by ``[PHONE]`` etc.): nothing that is redacted in a
result may sit in the database. ``export_feedback(url)`` returns the rows as plain dicts for training.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, create_engine, event, inspect, select
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from triage.errors import InputError
from triage.schema import LabelSchema


class Base(DeclarativeBase):
    pass


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    post_id: Mapped[str] = mapped_column(String(200), index=True)
    head: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    redacted_text: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    def to_dict(self) -> dict[str, Any]:
        created = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        return {
            "id": self.id,
            "post_id": self.post_id,
            "head": self.head,
            "label": self.label,
            "note": self.note,
            "redacted_text": self.redacted_text,
            "model_version": self.model_version,
            "tenant": self.tenant,
            "created_at": created.isoformat(),
        }


def check_head_label(schema: LabelSchema, head: str, label: str) -> None:
    """InputError ``unknown_head`` / ``unknown_label`` unless the model predicts ``label`` for ``head``."""
    heads = {h.name: h for h in schema.public_heads}
    if head not in heads:
        raise InputError(
            f"the model has no head {head!r}; heads: {', '.join(heads)}", code="unknown_head", field="head"
        )
    if label not in heads[head].labels:
        raise InputError(
            f"head {head!r} has no label {label!r}; labels: {', '.join(heads[head].labels)}",
            code="unknown_label",
            field="label",
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (an export) work while workers write; busy_timeout makes concurrent writers from
    # several worker processes wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class FeedbackStore:
    """The feedback table behind an SQLAlchemy engine. Methods are synchronous: call them from a thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: SqlEngine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._schema_ready = False

    def ensure_schema(self) -> None:
        """Create the table if needed. Several workers may race here: a loser retries once."""
        if self._schema_ready:
            return
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                break
            except OperationalError:
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        self._schema_ready = True

    def add(
        self,
        *,
        post_id: str,
        head: str,
        label: str,
        redacted_text: str,
        note: str | None = None,
        model_version: str | None = None,
        tenant: str | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Insert one (already redacted) correction and return the stored row."""
        self.ensure_schema()
        row = FeedbackRow(
            post_id=post_id, head=head, label=label, note=note, redacted_text=redacted_text,
            model_version=model_version, tenant=tenant, created_at=created_at or datetime.now(UTC),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            stored = row.to_dict()
        return stored

    def export(self, tenant: str | None = None) -> list[dict[str, Any]]:
        if not inspect(self.engine).has_table(FeedbackRow.__tablename__):
            return []
        query = select(FeedbackRow).order_by(FeedbackRow.id)
        if tenant is not None:
            query = query.where(FeedbackRow.tenant == tenant)
        with Session(self.engine) as session:
            return [row.to_dict() for row in session.scalars(query)]

    def ping(self) -> bool:
        try:
            with self.engine.connect():
                return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


def export_feedback(db_url: str, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every stored correction, oldest first, as plain dicts (for ``triage train``). [] without a table."""
    store = FeedbackStore(db_url)
    try:
        return store.export(tenant)
    finally:
        store.close()

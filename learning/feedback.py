"""Agents' corrections of whole decisions, stored in a real database for the next ``triage train``.

SQLite by default; any SQLAlchemy URL (``TRIAGE_DATABASE_URL`` for the server; PostgreSQL:
``postgresql+psycopg://user:pass@host/db``). One row per corrected field of a decision::

    feedback(id, post_id, head, label, kind, note, redacted_text, model_version, tenant, actor, source,
             template_id, reply_text, created_at)

``head`` names what was corrected and ``label`` the right value:

| ``kind`` | ``head``                    | ``label``                                                                 |
|----------|-----------------------------|---------------------------------------------------------------------------|
| label    | a schema head (intent, ...) | one of the head's labels                                                  |
| routing  | ``queue``                   | the right queue name                                                      |
| routing  | ``reply_mode``              | ``public`` or ``private``                                                 |
| action   | ``actions``                 | the right actions, sorted, joined by ``+`` (``escalate+reply``, ``none``) |
| reply    | ``reply``                   | ``chosen``, ``edited`` or ``rejected``                                    |

A ``reply`` correction also carries ``template_id``, and ``reply_text`` when edited.
``actor`` is who corrected it and ``note`` why. The post's text, the note and an edited reply are stored
only after redaction by the engine's entity stage (``[PHONE]``, ``[EMAIL]``...): the caller redacts,
this module never sees raw text. Tables made by an older version get the new columns added (nullable).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, get_args

from sqlalchemy import DateTime, Integer, String, Text, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from triage.errors import InputError
from triage.schema import LabelSchema
from triage.types import Action, ReplyMode

ROUTING_FIELDS = ("queue", "reply_mode")
DECISION_FIELDS = (*ROUTING_FIELDS, "actions", "reply")
REPLY_OUTCOMES = ("chosen", "edited", "rejected")
REPLY_MODES: tuple[str, ...] = get_args(ReplyMode)
ACTIONS: tuple[str, ...] = get_args(Action)
KINDS = ("label", "routing", "action", "reply")
SOURCES = ("api", "jsonl", "csv", "label_studio", "argilla")
_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
MAX_PAGE = 500


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
    # Added with the learning loop (older tables get them as nullable columns: see ensure_schema).
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    template_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reply_text: Mapped[str | None] = mapped_column(Text, nullable=True)

    def to_dict(self) -> dict[str, Any]:
        created = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        return {
            "id": self.id, "post_id": self.post_id, "head": self.head, "label": self.label,
            "kind": self.kind or kind_of(self.head), "note": self.note, "redacted_text": self.redacted_text,
            "model_version": self.model_version, "tenant": self.tenant, "actor": self.actor,
            "source": self.source or "api", "template_id": self.template_id, "reply_text": self.reply_text,
            "created_at": created.isoformat(),
        }


def kind_of(head: str) -> str:
    """``label`` for a schema head, else the decision field's kind (routing, action, reply)."""
    if head in ROUTING_FIELDS:
        return "routing"
    return {"actions": "action", "reply": "reply"}.get(head, "label")


def check_head_label(schema: LabelSchema, head: str, label: str, *, head_field: str = "head",
                     label_field: str = "label") -> None:
    """InputError ``unknown_head`` / ``unknown_label`` unless the model predicts ``label`` for ``head``."""
    heads = {h.name: h for h in schema.public_heads}
    if head not in heads:
        raise InputError(
            f"the model has no head {head!r}; heads: {', '.join(heads)} (or a decision field: "
            f"{', '.join(DECISION_FIELDS)})", code="unknown_head", field=head_field
        )
    if label not in heads[head].labels:
        raise InputError(
            f"head {head!r} has no label {label!r}; labels: {', '.join(heads[head].labels)}",
            code="unknown_label",
            field=label_field,
        )


def normalise_actions(value: str | Iterable[str], field: str = "label") -> str:
    """A set of actions as stored: sorted, ``+``-joined; ``none`` alone. InputError for an unknown action."""
    items = value.replace(",", "+").split("+") if isinstance(value, str) else list(value)
    chosen = sorted({a.strip() for a in items if a.strip()})
    unknown = [a for a in chosen if a not in ACTIONS]
    if unknown or not chosen:
        raise InputError(f"actions must be some of {', '.join(ACTIONS)} (got {unknown or 'nothing'})",
                         code="unknown_label", field=field)
    if "none" in chosen and len(chosen) > 1:
        raise InputError("'none' cannot go with other actions", code="unknown_label", field=field)
    return "+".join(chosen)


def check_correction(schema: LabelSchema, head: str, label: str, field: str = "label") -> str:
    """The value to store for a correction of ``head`` (normalised); InputError when it is not valid."""
    if head == "queue":
        if not _QUEUE.match(label):
            raise InputError("queue must be 1 to 64 letters, digits or _.:/- (starting with a letter or digit)",
                             code="unknown_label", field=field)
        return label
    if head == "reply_mode":
        if label not in REPLY_MODES:
            raise InputError(f"reply_mode must be one of {', '.join(REPLY_MODES)}", code="unknown_label", field=field)
        return label
    if head == "actions":
        return normalise_actions(label, field)
    if head == "reply":
        if label not in REPLY_OUTCOMES:
            raise InputError(f"a reply correction is one of {', '.join(REPLY_OUTCOMES)}", code="unknown_label",
                             field=field)
        return label
    check_head_label(schema, head, label, head_field="head" if field == "label" else field, label_field=field)
    return label


@dataclass(frozen=True)
class FeedbackQuery:
    """Filters of a listing or an export (None: any)."""

    post_id: str | None = None
    head: str | None = None
    label: str | None = None
    kind: str | None = None
    actor: str | None = None
    tenant: str | None = None
    source: str | None = None
    model_version: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Any) -> Any:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name in ("since", "until"):
                continue
            query = query.where(getattr(FeedbackRow, f.name) == value)
        if self.since is not None:
            query = query.where(FeedbackRow.created_at >= _utc(self.since))
        if self.until is not None:
            query = query.where(FeedbackRow.created_at < _utc(self.until))
        return query


def _utc(value: datetime) -> datetime:
    # Stored in UTC (SQLite keeps no zone): compare in UTC; a naive value means UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        """Create the table (or add the columns an older table lacks). Racing workers retry."""
        if self._schema_ready:
            return
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                self._add_missing_columns()
                break
            except OperationalError:
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        self._schema_ready = True

    def _add_missing_columns(self) -> None:
        present = {c["name"] for c in inspect(self.engine).get_columns(FeedbackRow.__tablename__)}
        table = Base.metadata.tables[FeedbackRow.__tablename__]  # a typed Table (``__table__`` is a FromClause)
        with self.engine.begin() as connection:
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=self.engine.dialect)
                    connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))
            if "kind" not in present:  # rows of an older table: label corrections only
                connection.execute(text(f"UPDATE {table.name} SET kind = 'label' WHERE kind IS NULL"))

    def add(self, *, post_id: str, head: str, label: str, redacted_text: str, note: str | None = None,
            model_version: str | None = None, tenant: str | None = None, created_at: datetime | None = None,
            actor: str | None = None, source: str = "api", template_id: str | None = None,
            reply_text: str | None = None) -> dict[str, Any]:
        """Insert one (already redacted) correction and return the stored row."""
        return self.add_many([dict(
            post_id=post_id, head=head, label=label, redacted_text=redacted_text, note=note,
            model_version=model_version, tenant=tenant, created_at=created_at, actor=actor, source=source,
            template_id=template_id, reply_text=reply_text)])[0]

    def add_many(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert (already redacted) corrections in one transaction; the stored rows, in order."""
        self.ensure_schema()
        now = datetime.now(UTC)
        objects = [FeedbackRow(**{**r, "kind": kind_of(r["head"]), "created_at": _utc(r.get("created_at") or now)})
                   for r in rows]
        with Session(self.engine) as session, session.begin():
            session.add_all(objects)
            session.flush()
            return [o.to_dict() for o in objects]

    def _has_table(self) -> bool:
        return inspect(self.engine).has_table(FeedbackRow.__tablename__)

    def export(self, tenant: str | None = None, query: FeedbackQuery | None = None) -> list[dict[str, Any]]:
        """Every row matching the filters, oldest first ([] without a table)."""
        if not self._has_table():
            return []
        self.ensure_schema()
        q = (query or FeedbackQuery()).apply(select(FeedbackRow).order_by(FeedbackRow.id))
        if tenant is not None:
            q = q.where(FeedbackRow.tenant == tenant)
        with Session(self.engine) as session:
            return [row.to_dict() for row in session.scalars(q)]

    def page(self, query: FeedbackQuery, *, limit: int = 100, after: int | None = None,
             ) -> tuple[list[dict[str, Any]], int | None]:
        """One page, oldest first, after the row id ``after``: (rows, the cursor of the next page or None)."""
        if not self._has_table():
            return [], None
        self.ensure_schema()
        limit = max(1, min(limit, MAX_PAGE))
        q = query.apply(select(FeedbackRow).order_by(FeedbackRow.id))
        if after is not None:
            q = q.where(FeedbackRow.id > after)
        with Session(self.engine) as session:
            rows = [r.to_dict() for r in session.scalars(q.limit(limit + 1))]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1]["id"] if more and rows else None)

    def corrected_post_ids(self, tenant: str | None = None) -> set[str]:
        """Ids of every post with at least one correction (the review queue leaves them out)."""
        if not self._has_table():
            return set()
        q = select(FeedbackRow.post_id).distinct()
        if tenant is not None:
            q = q.where(FeedbackRow.tenant == tenant)
        with Session(self.engine) as session:
            return set(session.scalars(q))

    def label_totals(self, tenant: str | None = None) -> dict[tuple[str, str], int]:
        """(head, label) -> corrected posts with that label (the review queue's rarity term)."""
        if not self._has_table():
            return {}
        q = select(FeedbackRow.head, FeedbackRow.label, func.count(FeedbackRow.post_id.distinct()))
        if tenant is not None:
            q = q.where(FeedbackRow.tenant == tenant)
        with Session(self.engine) as session:
            return {(h, lab): int(n) for h, lab, n in session.execute(q.group_by(FeedbackRow.head, FeedbackRow.label))}

    def ping(self) -> bool:
        try:
            with self.engine.connect():
                return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


def export_feedback(db_url: str, tenant: str | None = None, query: FeedbackQuery | None = None) -> list[dict[str, Any]]:
    """Every stored correction, oldest first, as plain dicts (for ``triage train``). [] without a table."""
    store = FeedbackStore(db_url)
    try:
        return store.export(tenant, query)
    finally:
        store.close()

"""Plain records the repository returns (sessions close; rows do not leak out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from store.models import AuditRow, EventRow, PostRow
from triage.context import PriorPost


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class StoredPost:
    id: str
    brand: str
    channel: str
    created_at: datetime
    triaged_at: datetime
    redacted_text: str
    labels: dict[str, str]
    model_version: str
    schema_name: str | None = None
    language: str | None = None
    queue: str | None = None
    priority: str | None = None
    rule: str | None = None
    actions: list[str] = field(default_factory=list)
    needs_human: bool | None = None
    reasons: list[str] = field(default_factory=list)
    context: dict[str, Any] | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    customer_id: str | None = None
    customer_key: str | None = None
    author_hash: str | None = None
    text_hash: str | None = None
    triggers: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: PostRow) -> StoredPost:
        return cls(
            id=row.id, brand=row.brand, channel=row.channel, created_at=row.created_at, triaged_at=row.triaged_at,
            redacted_text=row.redacted_text, labels=dict(row.labels or {}), model_version=row.model_version,
            schema_name=row.schema_name, language=row.language, queue=row.queue, priority=row.priority,
            rule=row.rule, actions=list(row.actions or []), needs_human=row.needs_human,
            reasons=list(row.reasons or []), context=row.context, thread_id=row.thread_id,
            parent_id=row.parent_id, customer_id=row.customer_id, customer_key=row.customer_key,
            author_hash=row.author_hash, text_hash=row.text_hash, triggers=list(row.triggers or []),
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = _iso(self.created_at)
        out["triaged_at"] = _iso(self.triaged_at)
        return out

    def to_prior(self, case_hashes: frozenset[str] = frozenset(), resolved: bool = False) -> PriorPost:
        return PriorPost(
            post_id=self.id, brand=self.brand, channel=self.channel, created_at=self.created_at,
            thread_id=self.thread_id, parent_id=self.parent_id, customer_key=self.customer_key,
            text_hash=self.text_hash, case_hashes=case_hashes, labels=dict(self.labels),
            redacted_text=self.redacted_text, is_follow_up=bool((self.context or {}).get("is_follow_up")),
            resolved=resolved, queue=self.queue, priority=self.priority, triggers=tuple(self.triggers),
        )


@dataclass(frozen=True)
class StoredEvent:
    id: int
    post_id: str
    thread_id: str | None
    brand: str
    kind: str
    actor: str
    at: datetime
    note: str | None
    recorded_at: datetime
    event_id: str | None = None

    @classmethod
    def from_row(cls, row: EventRow) -> StoredEvent:
        return cls(row.id, row.post_id, row.thread_id, row.brand, row.kind, row.actor, row.at, row.note,
                   row.recorded_at, row.event_id)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": _iso(self.at), "recorded_at": _iso(self.recorded_at)}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    reason: str
    model_version: str | None = None
    subject: str | None = None

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEntry:
        return cls(row.id, row.at, row.actor, row.action, row.reason, row.model_version, row.subject)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": _iso(self.at)}


@dataclass(frozen=True)
class PurgeReport:
    posts: int
    events: int
    identity_links: int
    customers: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RetentionReport:
    brand: str
    cutoff: datetime
    posts: int
    events: int
    identity_links: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cutoff": _iso(self.cutoff)}

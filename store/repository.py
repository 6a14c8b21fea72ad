"""The post store's repository: small functions over an open SQLAlchemy session.

Each function takes the session first and does not commit: the caller (``store.PostStore``) owns the
transaction. Free text taken here (event notes, audit reasons) must already be redacted: ``PostStore``
redacts it with the engine's entity stage before it calls these.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from store.identity import PurgeTargets, link_customer
from store.models import EVENT_KINDS, AuditRow, EventRow, IdentityLinkRow, PostIdentityRow, PostRow, StateRow
from store.records import AuditEntry, PurgeReport, RetentionReport, StoredEvent, StoredPost
from triage.context import BrandReply, ContextResult, PostIdentity, PostRefs, PriorPost
from triage.errors import InputError
from triage.types import REDACTED_TYPES, Post, TriageContext, TriageResult

MAX_ID = 200


def utc(value: datetime | None, default: datetime | None = None) -> datetime:
    """``value`` in UTC (naive means UTC); ``default`` or now when None."""
    value = value or default or datetime.now(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_id(value: str | None, name: str) -> str | None:
    if value is not None and (not value.strip() or len(value) > MAX_ID):
        raise InputError(f"{name} must be 1 to {MAX_ID} characters", code="invalid_id", field=name)
    return value


def scrub(texts: Sequence[str], result: TriageResult) -> list[str]:
    """``texts`` with every redacted entity's original span replaced by its placeholder (e.g. [PHONE])."""
    spans = sorted({(e.text, REDACTED_TYPES[e.type]) for e in result.entities if e.redacted}, key=lambda s: -len(s[0]))
    out = []
    for text in texts:
        for original, placeholder in spans:
            text = text.replace(original, placeholder)
        out.append(text)
    return out


def check_redacted(result: TriageResult) -> None:
    """InputError when a redacted entity's original text is still in the result's redacted text."""
    leaked = sorted({e.type for e in result.entities if e.redacted and e.text in result.redacted_text})
    if leaked:
        raise InputError(f"the result's redacted text still holds {', '.join(leaked)}: refusing to store it",
                         code="unredacted_text")


def _decision(result: TriageResult) -> dict[str, Any]:
    routing = result.routing
    reasons = scrub(routing.reasons, result) if routing else []
    return {
        "queue": routing.queue if routing else None,
        "priority": routing.priority if routing else None,
        "rule": routing.rule if routing else None,
        "actions": list(routing.actions) if routing else [],
        "needs_human": routing.needs_human if routing else None,
        "reasons": reasons,
        "triggers": list(routing.triggers) if routing else [],
    }


def _thread(session: Session, refs: PostRefs, post_id: str) -> str:
    if refs.thread_id:
        return refs.thread_id
    if refs.parent_id:
        parent = session.get(PostRow, refs.parent_id)
        return (parent.thread_id or parent.id) if parent is not None else refs.parent_id
    return post_id


def save_result(
    session: Session,
    post: Post,
    result: TriageResult,
    *,
    brand: str,
    identity: PostIdentity | None = None,
    refs: PostRefs | None = None,
    text_hash: str | None = None,
    context: ContextResult | TriageContext | None = None,
    triaged_at: datetime | None = None,
) -> StoredPost:
    """Insert (or, for a post id already stored, replace) one triaged post. Stores redacted text only.

    ``context`` defaults to the result's own context block (``TriageResult.context``)."""
    check_redacted(result)
    refs = refs or PostRefs.from_post(post)
    post_id = _check_id(post.id or result.post_id, "post.id") or f"p-{uuid.uuid4().hex}"
    for name in ("thread_id", "parent_id", "customer_id"):
        _check_id(getattr(refs, name), name)
    now = utc(triaged_at)
    row = session.get(PostRow, post_id) or PostRow(id=post_id)
    created = utc(post.created_at, row.created_at or now)
    # A link is "seen" when a post using it was written: retention ages links by post time.
    customer_key = link_customer(session, identity, created) if identity is not None else None
    values = dict(
        brand=brand, channel=post.channel, author_hash=identity.handle_hash if identity else None,
        customer_key=customer_key, customer_id=refs.customer_id, thread_id=_thread(session, refs, post_id),
        parent_id=refs.parent_id, redacted_text=result.redacted_text, text_hash=text_hash,
        language=result.language.language, labels=dict(result.labels),
        context=_context(context if context is not None else result.context, customer_key),
        model_version=result.model_version, schema_name=result.schema_name,
        created_at=created, triaged_at=now, **_decision(result),
    )
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    session.execute(delete(PostIdentityRow).where(PostIdentityRow.post_id == post_id))
    session.flush()
    for h in identity.entity_hashes if identity is not None else ():
        session.add(PostIdentityRow(post_id=post_id, kind=h.kind, digest=h.digest))
    session.flush()
    return StoredPost.from_row(row)


def _context(context: ContextResult | TriageContext | None, customer_key: str | None) -> dict[str, Any] | None:
    if context is None:
        return None
    data = context.model_dump(mode="json")
    data["customer_key"] = data.get("customer_key") or customer_key
    return data


def get_post(session: Session, post_id: str) -> StoredPost | None:
    row = session.get(PostRow, post_id)
    return StoredPost.from_row(row) if row is not None else None


def thread_posts(session: Session, thread_id: str, limit: int = 500) -> list[StoredPost]:
    """The stored posts of a thread (its root included), oldest first."""
    query = (select(PostRow).where((PostRow.thread_id == thread_id) | (PostRow.id == thread_id))
             .order_by(PostRow.created_at, PostRow.id).limit(limit))
    return [StoredPost.from_row(r) for r in session.scalars(query)]


def recent_posts_for_customer(
    session: Session, customer_key: str, *, since: datetime | None = None, limit: int = 50
) -> list[StoredPost]:
    """The customer's posts, newest first (written at or after ``since`` when given)."""
    query = select(PostRow).where(PostRow.customer_key == customer_key)
    if since is not None:
        query = query.where(PostRow.created_at >= utc(since))
    query = query.order_by(PostRow.created_at.desc(), PostRow.id).limit(limit)
    return [StoredPost.from_row(r) for r in session.scalars(query)]


def posts_with_text_hash(session: Session, brand: str, text_hash: str, *, since: datetime,
                         limit: int = 50) -> list[StoredPost]:
    query = (select(PostRow).where(PostRow.brand == brand, PostRow.text_hash == text_hash,
                                   PostRow.created_at >= utc(since))
             .order_by(PostRow.created_at.desc(), PostRow.id).limit(limit))
    return [StoredPost.from_row(r) for r in session.scalars(query)]


def to_prior_posts(session: Session, posts: Sequence[StoredPost]) -> list[PriorPost]:
    """``posts`` with their order-number hashes and whether a ``resolved`` event followed them."""
    if not posts:
        return []
    ids = [p.id for p in posts]
    hashes: dict[str, set[str]] = {}
    for post_id, digest in session.execute(
        select(PostIdentityRow.post_id, PostIdentityRow.digest)
        .where(PostIdentityRow.post_id.in_(ids), PostIdentityRow.kind == "order_id")
    ):
        hashes.setdefault(post_id, set()).add(digest)
    threads = {p.thread_id for p in posts if p.thread_id}
    resolved = session.execute(
        select(EventRow.post_id, EventRow.thread_id, EventRow.at)
        .where(EventRow.kind == "resolved", EventRow.post_id.in_(ids) | EventRow.thread_id.in_(threads))
    ).all()

    def is_resolved(p: StoredPost) -> bool:
        return any((pid == p.id or (tid is not None and tid == p.thread_id)) and at >= p.created_at
                   for pid, tid, at in resolved)

    return [p.to_prior(frozenset(hashes.get(p.id, ())), is_resolved(p)) for p in posts]


def last_brand_reply(session: Session, thread_id: str) -> BrandReply | None:
    """The latest ``replied`` event in the thread."""
    row = session.scalars(
        select(EventRow).where(EventRow.thread_id == thread_id, EventRow.kind == "replied")
        .order_by(EventRow.at.desc(), EventRow.id.desc()).limit(1)
    ).first()
    return BrandReply(thread_id=thread_id, at=row.at, post_id=row.post_id, actor=row.actor) if row else None


def add_event(
    session: Session, post_id: str, kind: str, actor: str, *, at: datetime | None = None,
    redacted_note: str | None = None, event_id: str | None = None,
) -> StoredEvent:
    """Record a helpdesk event on a stored post (replied, assigned, resolved, hidden)."""
    if kind not in EVENT_KINDS:
        raise InputError(f"unknown event kind {kind!r}; kinds: {', '.join(EVENT_KINDS)}",
                         code="unknown_event_kind", field="kind")
    if not actor.strip() or len(actor) > MAX_ID:
        raise InputError(f"actor must be 1 to {MAX_ID} characters", code="invalid_actor", field="actor")
    _check_id(event_id, "event_id")
    post = session.get(PostRow, post_id)
    if post is None:
        raise InputError(f"no stored post {post_id!r}", code="unknown_post", field="post_id")
    row = EventRow(post_id=post_id, thread_id=post.thread_id, brand=post.brand, kind=kind, actor=actor.strip(),
                   at=utc(at), note=redacted_note, recorded_at=utc(None), event_id=event_id)
    session.add(row)
    session.flush()
    return StoredEvent.from_row(row)


def event_by_id(session: Session, event_id: str) -> StoredEvent | None:
    row = session.scalars(select(EventRow).where(EventRow.event_id == event_id).limit(1)).first()
    return StoredEvent.from_row(row) if row is not None else None


def list_events(
    session: Session, *, post_id: str | None = None, thread_id: str | None = None,
    since: datetime | None = None, limit: int = 1000,
) -> list[StoredEvent]:
    """Events, oldest first, of one post or one thread (or all), at or after ``since``."""
    query = select(EventRow)
    if post_id is not None:
        query = query.where(EventRow.post_id == post_id)
    if thread_id is not None:
        query = query.where(EventRow.thread_id == thread_id)
    if since is not None:
        query = query.where(EventRow.at >= utc(since))
    return [StoredEvent.from_row(r) for r in session.scalars(query.order_by(EventRow.at, EventRow.id).limit(limit))]


def audit(
    session: Session, actor: str, action: str, redacted_reason: str, *, model_version: str | None = None,
    subject: str | None = None, at: datetime | None = None,
) -> AuditEntry:
    """Append one line to the audit log (automated actions, model changes, purges, retention runs)."""
    if not actor.strip() or not action.strip():
        raise InputError("an audit entry needs an actor and an action", code="invalid_audit")
    row = AuditRow(at=utc(at), actor=actor.strip()[:MAX_ID], action=action.strip()[:64],
                   model_version=model_version, subject=subject, reason=redacted_reason)
    session.add(row)
    session.flush()
    return AuditEntry.from_row(row)


def audit_log(session: Session, *, since: datetime | None = None, limit: int = 1000, action: str | None = None,
              actor: str | None = None, after: int | None = None) -> list[AuditEntry]:
    """Audit entries, oldest first; ``action`` / ``actor`` filter, ``after`` skips ids up to it (paging)."""
    query = select(AuditRow)
    if since is not None:
        query = query.where(AuditRow.at >= utc(since))
    if action is not None:
        query = query.where(AuditRow.action == action)
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    if after is not None:
        query = query.where(AuditRow.id > after)
    return [AuditEntry.from_row(r) for r in session.scalars(query.order_by(AuditRow.at, AuditRow.id).limit(limit))]


def recent_posts(session: Session, *, brands: Sequence[str] | None = None, since: datetime | None = None,
                 limit: int = 500) -> list[StoredPost]:
    """The newest stored posts (of ``brands`` when given, written at or after ``since``), newest first."""
    query = select(PostRow)
    if brands is not None:
        query = query.where(PostRow.brand.in_(list(brands)))
    if since is not None:
        query = query.where(PostRow.created_at >= utc(since))
    query = query.order_by(PostRow.created_at.desc(), PostRow.id).limit(limit)
    return [StoredPost.from_row(r) for r in session.scalars(query)]


def _delete_posts(session: Session, where: Any, dry_run: bool = False) -> tuple[int, int]:
    """Delete the posts matching ``where`` with their events and identity rows: (posts, events)."""
    ids = select(PostRow.id).where(where).scalar_subquery()
    posts = session.scalar(select(func.count()).select_from(PostRow).where(where)) or 0
    events = session.scalar(select(func.count()).select_from(EventRow).where(EventRow.post_id.in_(ids))) or 0
    if not dry_run:
        session.execute(delete(EventRow).where(EventRow.post_id.in_(ids)))
        session.execute(delete(PostIdentityRow).where(PostIdentityRow.post_id.in_(ids)))
        session.execute(delete(PostRow).where(where))
    return posts, events


def purge_customer(session: Session, targets: PurgeTargets) -> PurgeReport:
    """Delete every post, event and identity link of one customer ("right to be forgotten")."""
    clauses: list[ColumnElement[bool]] = []
    if targets.customer_keys:
        clauses.append(PostRow.customer_key.in_(targets.customer_keys))
    if targets.author_hashes:
        clauses.append(PostRow.author_hash.in_(targets.author_hashes))
    if targets.customer_id:
        clauses.append(PostRow.customer_id == targets.customer_id)
    posts = events = links = 0
    if clauses:
        posts, events = _delete_posts(session, PostRow.brand.in_(targets.brands) & or_(*clauses))
    if targets.customer_keys:
        deleted = session.execute(delete(IdentityLinkRow).where(IdentityLinkRow.customer_key.in_(
            targets.customer_keys)))
        links = cast(CursorResult[Any], deleted).rowcount or 0
    audit(session, "store", "purge_customer",
          f"purged {posts} post(s), {events} event(s), {links} identity link(s) of {len(targets.customer_keys)} "
          "customer key(s); the customer's identifiers are not recorded")
    return PurgeReport(posts, events, links, len(targets.customer_keys))


def apply_retention(
    session: Session, brand: str, days: int, *, now: datetime | None = None, dry_run: bool = False,
    actor: str = "store",
) -> RetentionReport:
    """Delete the brand's posts written more than ``days`` days ago, their events, and identity links
    not seen since then. ``dry_run``: count only."""
    if days < 1:
        raise InputError("retention needs at least 1 day", code="invalid_retention", field="days")
    cutoff = utc(now) - timedelta(days=days)
    posts, events = _delete_posts(session, (PostRow.brand == brand) & (PostRow.created_at < cutoff), dry_run)
    old_links = (IdentityLinkRow.brand == brand) & (IdentityLinkRow.last_seen_at < cutoff)
    links = session.scalar(select(func.count()).select_from(IdentityLinkRow).where(old_links)) or 0
    if not dry_run:
        session.execute(delete(IdentityLinkRow).where(old_links))
        audit(session, actor, "retention",
              f"brand {brand}: {days} days; deleted {posts} post(s), {events} event(s), {links} identity link(s)",
              subject=brand)
    return RetentionReport(brand, cutoff, posts, events, links, dry_run)


def _counts(session: Session, column: Any) -> dict[str, int]:
    return {str(k): int(n) for k, n in session.execute(select(column, func.count()).group_by(column).order_by(column))}


def stats(session: Session) -> dict[str, Any]:
    oldest, newest = session.execute(select(func.min(PostRow.created_at), func.max(PostRow.created_at))).one()
    return {
        "posts": _counts(session, PostRow.brand),
        "posts_by_channel": _counts(session, PostRow.channel),
        "oldest_post": utc(oldest).isoformat() if oldest else None,
        "newest_post": utc(newest).isoformat() if newest else None,
        "events": _counts(session, EventRow.kind),
        "identity_links": _counts(session, IdentityLinkRow.kind),
        "customers": session.scalar(select(func.count(func.distinct(IdentityLinkRow.customer_key)))) or 0,
        "audit_entries": session.scalar(select(func.count()).select_from(AuditRow)) or 0,
        "states": _counts(session, StateRow.namespace),
    }

"""``PostStore``: the repository behind one database, with its identity key and its redactor.

>>> store = PostStore("sqlite:///./triage-store.db")          # key from TRIAGE_IDENTITY_KEY
>>> stored = store.save_result(post, engine.triage(post))      # redacted text, decision, hashes only
>>> store.add_event(stored.id, "replied", actor="agent-17")
>>> store.context_provider()                                   # a triage.context.ContextProvider

Every method runs in its own transaction. Free text (event notes, audit reasons) goes through the
engine's redaction (``TextStages.redact``) before it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import store.repository as repo
from store.db import current_revision, make_engine, migrate, safe_url, store_url
from store.identity import purge_targets
from store.provider import StoreContextProvider
from store.records import AuditEntry, PurgeReport, RetentionReport, StoredEvent, StoredPost
from store.state import DbStateStore
from triage.context import (
    BrandReply,
    ContextResult,
    IdentityKey,
    PostIdentity,
    PostRefs,
    post_identity,
    text_key,
)
from triage.errors import InputError
from triage.types import Post, TriageResult

DEFAULT_BRAND = "default"


class PostStore:
    """The post store. Thread-safe (one engine, a session per call); share one per process."""

    def __init__(
        self,
        url: str | None = None,
        *,
        identity_key: IdentityKey | Literal["env"] | None = "env",
        redact: Callable[[str], str] | None = None,
        default_brand: str = DEFAULT_BRAND,
    ) -> None:
        self.url = store_url(url)
        self.engine = make_engine(self.url)
        self.identity_key = IdentityKey.from_env() if identity_key == "env" else identity_key
        self.default_brand = default_brand
        self._redact = redact
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"PostStore({safe_url(self.url)!r}, identity_key={'set' if self.identity_key else 'unset'})"

    # -- plumbing ---------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Upgrade the schema to the newest migration (once per process)."""
        if not self._schema_ready:
            migrate(self.engine)
            self._schema_ready = True

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back on an exception."""
        self.ensure_schema()
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def redact(self, text: str) -> str:
        """``text`` with personal data replaced, exactly as a triage result's redacted text."""
        if self._redact is None:
            from triage.prepare import TextStages

            self._redact = TextStages().redact
        return self._redact(text)

    def revision(self) -> str | None:
        return current_revision(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- posts ------------------------------------------------------------------------------------------
    def brand_of(self, post: Post, result: TriageResult | None = None) -> str:
        """The brand a post is stored under: its routing's, else its own, else the default brand."""
        if result is not None and result.routing is not None:
            return result.routing.brand
        return post.brand or self.default_brand

    def identity_of(self, post: Post, result: TriageResult, brand: str, refs: PostRefs) -> PostIdentity | None:
        if self.identity_key is None:
            return None
        return post_identity(self.identity_key, brand=brand, channel=post.channel,
                             handle=post.author.handle if post.author else None,
                             customer_id=refs.customer_id, entities=result.entities)

    def save_result(
        self,
        post: Post,
        result: TriageResult,
        *,
        context: ContextResult | None = None,
        refs: PostRefs | None = None,
        triaged_at: datetime | None = None,
    ) -> StoredPost:
        """Store one triaged post: redacted text, decision, model version, references, keyed hashes.

        ``refs`` (thread, parent, customer id) default to ``post.metadata``'s ``thread_id``, ``parent_id``
        and ``customer_id``. Saving a post id again replaces the stored decision (a re-triage).
        """
        refs = refs or PostRefs.from_post(post)
        brand = self.brand_of(post, result)
        identity = self.identity_of(post, result, brand, refs)
        text_hash = text_key(result.redacted_text, self.identity_key)
        for attempt in range(2):
            try:
                with self.session() as session:
                    return repo.save_result(session, post, result, brand=brand, identity=identity, refs=refs,
                                            text_hash=text_hash, context=context, triaged_at=triaged_at)
            except IntegrityError:
                if attempt == 1:
                    raise  # a concurrent writer linked the same identity or post first: the retry sees it
        raise AssertionError("unreachable")

    def get_post(self, post_id: str) -> StoredPost | None:
        with self.session() as session:
            return repo.get_post(session, post_id)

    def thread_posts(self, thread_id: str, limit: int = 500) -> list[StoredPost]:
        with self.session() as session:
            return repo.thread_posts(session, thread_id, limit)

    def recent_posts_for_customer(self, customer_key: str, *, since: datetime | None = None,
                                  limit: int = 50) -> list[StoredPost]:
        with self.session() as session:
            return repo.recent_posts_for_customer(session, customer_key, since=since, limit=limit)

    def last_brand_reply(self, thread_id: str) -> BrandReply | None:
        with self.session() as session:
            return repo.last_brand_reply(session, thread_id)

    # -- events and audit -------------------------------------------------------------------------------
    def add_event(self, post_id: str, kind: str, actor: str, *, at: datetime | None = None,
                  note: str | None = None) -> StoredEvent:
        """Record a helpdesk event (replied, assigned, resolved, hidden); ``note`` is redacted first."""
        redacted = self.redact(note) if note else None
        with self.session() as session:
            return repo.add_event(session, post_id, kind, actor, at=at, redacted_note=redacted)

    def record_event(self, post_id: str, kind: str, actor: str, *, at: datetime | None = None,
                     note: str | None = None, event_id: str | None = None) -> tuple[StoredEvent, bool]:
        """``add_event``, idempotent by the helpdesk's ``event_id``: (the event, whether it is new).

        The same ``event_id`` again returns the stored event (a retry); with another post or kind it is an
        InputError (``event_id_conflict``)."""
        redacted = self.redact(note) if note else None
        for attempt in range(2):
            try:
                with self.session() as session:
                    found = repo.event_by_id(session, event_id) if event_id is not None else None
                    if found is not None:
                        return _same_event(found, post_id, kind), False
                    event = repo.add_event(session, post_id, kind, actor, at=at, redacted_note=redacted,
                                           event_id=event_id)
                    return event, True
            except IntegrityError:
                if attempt == 1 or event_id is None:
                    raise  # a concurrent retry stored the same event id first: the second pass finds it
        raise AssertionError("unreachable")

    def list_events(self, *, post_id: str | None = None, thread_id: str | None = None,
                    since: datetime | None = None, limit: int = 1000) -> list[StoredEvent]:
        with self.session() as session:
            return repo.list_events(session, post_id=post_id, thread_id=thread_id, since=since, limit=limit)

    def audit(self, actor: str, action: str, reason: str, *, model_version: str | None = None,
              subject: str | None = None, at: datetime | None = None) -> AuditEntry:
        """Append to the audit log; ``reason`` is redacted first."""
        redacted = self.redact(reason) if reason else ""
        with self.session() as session:
            return repo.audit(session, actor, action, redacted, model_version=model_version, subject=subject, at=at)

    def audit_log(self, *, since: datetime | None = None, limit: int = 1000, action: str | None = None,
                  actor: str | None = None, after: int | None = None) -> list[AuditEntry]:
        with self.session() as session:
            return repo.audit_log(session, since=since, limit=limit, action=action, actor=actor, after=after)

    def recent_posts(self, *, brands: list[str] | None = None, since: datetime | None = None,
                     limit: int = 500) -> list[StoredPost]:
        """The newest stored posts, newest first (the review queue's pool)."""
        with self.session() as session:
            return repo.recent_posts(session, brands=brands, since=since, limit=limit)

    # -- retention and purge ----------------------------------------------------------------------------
    def purge_customer(self, *, customer_id: str | None = None, channel: str | None = None,
                       handle: str | None = None, brand: str | None = None) -> PurgeReport:
        """Delete every post, event and identity link of a customer id, or of a handle on a channel."""
        with self.session() as session:
            targets = purge_targets(session, self.identity_key, customer_id=customer_id, channel=channel,
                                    handle=handle, brand=brand)
            return repo.purge_customer(session, targets)

    def apply_retention(self, brand: str, days: int, *, now: datetime | None = None,
                        dry_run: bool = False) -> RetentionReport:
        with self.session() as session:
            return repo.apply_retention(session, brand, days, now=now, dry_run=dry_run)

    def stats(self) -> dict[str, Any]:
        with self.session() as session:
            out = repo.stats(session)
        return {"url": safe_url(self.url), "revision": self.revision(),
                "identity_key": self.identity_key is not None, **out}

    # -- for other components ---------------------------------------------------------------------------
    def state_store(self, namespace: str = "crisis") -> DbStateStore:
        """The crisis detector's ``StateStore`` over the state table."""
        self.ensure_schema()
        return DbStateStore(self.engine, namespace)

    def context_provider(self) -> StoreContextProvider:
        """A ``triage.context.ContextProvider`` over this store."""
        return StoreContextProvider(self)


def _same_event(found: StoredEvent, post_id: str, kind: str) -> StoredEvent:
    if (found.post_id, found.kind) != (post_id, kind):
        raise InputError(f"event id {found.event_id!r} already records a {found.kind!r} event on post "
                         f"{found.post_id!r}; use a new id for another event", code="event_id_conflict",
                         field="event_id")
    return found

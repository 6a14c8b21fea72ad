"""The store as a ``triage.context.ContextProvider``: what the engine or router asks about a post's history."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

import store.repository as repo
from store.identity import find_customer
from triage.context import BrandReply, PostIdentity, PriorPost


class SessionSource(Protocol):
    """Anything with ``session()``: a transaction context (``store.PostStore``)."""

    def session(self) -> AbstractContextManager[Session]: ...


class StoreContextProvider:
    """Read-only answers from a ``PostStore`` (one short transaction per question)."""

    def __init__(self, store: SessionSource) -> None:
        self.store = store

    def find_customer(self, identity: PostIdentity) -> str | None:
        with self.store.session() as session:
            return find_customer(session, identity)

    def parent_post(self, post_id: str) -> PriorPost | None:
        with self.store.session() as session:
            post = repo.get_post(session, post_id)
            return repo.to_prior_posts(session, [post])[0] if post is not None else None

    def last_brand_reply(self, thread_id: str) -> BrandReply | None:
        with self.store.session() as session:
            return repo.last_brand_reply(session, thread_id)

    def recent_posts_for_customer(self, customer_key: str, *, since: datetime, limit: int = 50) -> list[PriorPost]:
        with self.store.session() as session:
            posts = repo.recent_posts_for_customer(session, customer_key, since=since, limit=limit)
            return repo.to_prior_posts(session, posts)

    def posts_with_text_hash(self, brand: str, text_hash: str, *, since: datetime, limit: int = 50) -> list[PriorPost]:
        with self.store.session() as session:
            posts = repo.posts_with_text_hash(session, brand, text_hash, since=since, limit=limit)
            return repo.to_prior_posts(session, posts)

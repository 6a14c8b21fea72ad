"""What the engine or the router asks about a post's history, as a Protocol: the post store implements it.

The core never imports a database: ``store.PostStore.context_provider()`` returns an object of this shape,
and tests use ``InMemoryContextProvider``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from triage.context.identity import IDENTITY_KINDS, PostIdentity
from triage.context.types import BrandReply, PriorPost


class ContextProvider(Protocol):
    def find_customer(self, identity: PostIdentity) -> str | None:
        """The customer key linked to any of ``identity``'s hashes (strongest kind first), else None."""
        ...

    def parent_post(self, post_id: str) -> PriorPost | None:
        """The post ``post_id`` (a reply's parent), when stored."""
        ...

    def last_brand_reply(self, thread_id: str) -> BrandReply | None:
        """The brand's latest reply in the thread, when any."""
        ...

    def recent_posts_for_customer(self, customer_key: str, *, since: datetime, limit: int = 50) -> list[PriorPost]:
        """The customer's posts written at or after ``since``, newest first."""
        ...

    def posts_with_text_hash(self, brand: str, text_hash: str, *, since: datetime, limit: int = 50) -> list[PriorPost]:
        """The brand's posts with this repost key written at or after ``since``, newest first."""
        ...


class InMemoryContextProvider:
    """A ContextProvider over lists, for tests and for callers without a store."""

    def __init__(
        self,
        posts: Iterable[PriorPost] = (),
        replies: Iterable[BrandReply] = (),
        links: dict[tuple[str, str, str], str] | None = None,
    ) -> None:
        self.posts = list(posts)
        self.replies = list(replies)
        self.links = dict(links or {})  # (brand, kind, digest) -> customer key

    def find_customer(self, identity: PostIdentity) -> str | None:
        for kind in IDENTITY_KINDS:
            for digest in identity.of_kind(kind):
                found = self.links.get((identity.brand, kind, digest))
                if found is not None:
                    return found
        return None

    def parent_post(self, post_id: str) -> PriorPost | None:
        return next((p for p in self.posts if p.post_id == post_id), None)

    def last_brand_reply(self, thread_id: str) -> BrandReply | None:
        found = [r for r in self.replies if r.thread_id == thread_id]
        return max(found, key=lambda r: r.at) if found else None

    def recent_posts_for_customer(self, customer_key: str, *, since: datetime, limit: int = 50) -> list[PriorPost]:
        found = [p for p in self.posts if p.customer_key == customer_key and p.created_at >= since]
        return sorted(found, key=lambda p: p.created_at, reverse=True)[:limit]

    def posts_with_text_hash(self, brand: str, text_hash: str, *, since: datetime, limit: int = 50) -> list[PriorPost]:
        found = [p for p in self.posts if p.brand == brand and p.text_hash == text_hash and p.created_at >= since]
        return sorted(found, key=lambda p: p.created_at, reverse=True)[:limit]

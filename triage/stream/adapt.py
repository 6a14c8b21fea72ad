"""Build a ``StreamEvent`` from what the engine already returns for a post.

Only redacted text leaves here: ``TriageResult.redacted_text``, never ``Post.text``. The author becomes a
keyed pseudonym (``author_key`` with ``TRIAGE_IDENTITY_KEY``); without the key the event has no author and
the detector counts each post as its own author. The labels are the result's (the decision's: a follow-up's
raised urgency, a 'me too' reply's parent labels) and the triggers default to the routing decision's.
Engagement counts are read from the post's metadata when the channel connector put them
there (``shares``, ``likes``, ``views``: integers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from triage.context.identity import IdentityKey
from triage.stream.events import StreamEvent, author_key
from triage.types import Post, TriageResult


def event_from_triage(
    post: Post,
    result: TriageResult,
    *,
    embedding: Sequence[float] | object | None = None,
    triggers: Sequence[str] | None = None,
    heads: tuple[str, str, str] = ("intent", "sentiment", "urgency"),
    refresh: bool = False,
    key: IdentityKey | None = None,
) -> StreamEvent:
    """The stream event of a triaged post. ``heads`` names the schema's intent, sentiment and urgency heads."""
    brand = result.routing.brand if result.routing else (post.brand or "default")  # as the post store does
    intent, sentiment, urgency = (result.labels.get(h, "") for h in heads)
    handle = post.author.handle if post.author and post.author.handle else None
    if triggers is None:
        triggers = result.routing.triggers if result.routing else ()
    return StreamEvent(
        time=post.created_at or datetime.now(UTC),
        brand=brand,
        channel=post.channel,
        post_id=post.id or result.post_id or "",
        intent=intent,
        sentiment=sentiment,
        urgency=urgency,
        queue=result.routing.queue if result.routing else "",
        text=result.redacted_text,
        embedding=embedding,
        triggers=tuple(triggers),
        shares=_count(post, "shares"),
        likes=_count(post, "likes"),
        views=_count(post, "views"),
        author=author_key(brand, post.channel, handle, key) if handle and key is not None else None,
        refresh=refresh,
    )


def _count(post: Post, key: str) -> int | None:
    value = post.metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)

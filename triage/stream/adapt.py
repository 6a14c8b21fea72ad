"""Build a ``StreamEvent`` from what the engine already returns for a post.

Only redacted text leaves here: ``TriageResult.redacted_text``, never ``Post.text``. The author becomes a
pseudonymous key. Engagement counts are read from the post's metadata when the channel connector put them
there (``shares``, ``likes``, ``views``: integers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from triage.stream.events import StreamEvent, author_key
from triage.types import Post, TriageResult


def event_from_triage(
    post: Post,
    result: TriageResult,
    *,
    embedding: Sequence[float] | object | None = None,
    triggers: Sequence[str] = (),
    heads: tuple[str, str, str] = ("intent", "sentiment", "urgency"),
    refresh: bool = False,
) -> StreamEvent:
    """The stream event of a triaged post. ``heads`` names the schema's intent, sentiment and urgency heads."""
    brand = post.brand or (result.routing.brand if result.routing else "default")
    intent, sentiment, urgency = (result.labels.get(h, "") for h in heads)
    handle = post.author.handle if post.author and post.author.handle else None
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
        author=author_key(brand, post.channel, handle) if handle else None,
        refresh=refresh,
    )


def _count(post: Post, key: str) -> int | None:
    value = post.metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)

"""The review queue: rank stored posts for labeling (``GET /v1/review-queue``, ``triage review next``).

``rank_posts(classifier, posts, k)`` scores the posts' stored (redacted) texts with the model and picks
``k`` by uncertainty, rarity of the labels they may have and diversity (``learning.active.select``).
``next_posts`` does the whole job from URLs: the newest stored posts (``store.PostStore.recent_posts``)
minus those already corrected (``learning.feedback``), ranked by the model of a folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learning.active import label_counts, select
from triage.classify.base import Classifier
from triage.text.normalise import normalise


def rank_posts(classifier: Classifier, posts: Sequence[Any], k: int, *,
               totals: dict[tuple[str, str], int] | None = None,
               seed: int = 0) -> list[dict[str, Any]]:
    """The ``k`` posts (``StoredPost``-like: id, brand, channel, created_at, redacted_text) to label next.

    ``totals``: (head, label) -> corrected posts so far (``FeedbackStore.label_totals``), for the rarity term.
    """
    if not posts:
        return []
    output = classifier.predict([normalise(p.redacted_text).text for p in posts])
    public = classifier.schema.public_heads
    probs = {h.name: output.probabilities[h.name] for h in public if h.name in output.probabilities}
    labels = {h.name: h.labels for h in public}
    items = []
    counts = label_counts(totals, labels) if totals is not None else None
    for pick in select(probs, output.embeddings, k, labels=labels, label_counts=counts, seed=seed):
        p = posts[pick.index]
        detail = pick.to_dict()
        items.append({"post_id": p.id, "brand": p.brand, "channel": p.channel,
                      "created_at": p.created_at.isoformat(), "redacted_text": p.redacted_text,
                      "labels": {h: u["label"] for h, u in detail["heads"].items()}, **detail})
    return items


def next_posts(model_dir: Path | None, store_url: str | None, feedback_url: str, *, limit: int = 20, pool: int = 300,
               brand: str | None = None) -> list[dict[str, Any]]:
    """Rank the newest stored posts nobody has corrected yet with the model in ``model_dir``."""
    from learning.feedback import FeedbackStore
    from store.poststore import PostStore
    from triage.loading import load_classifier

    store = PostStore(store_url, identity_key=None)
    feedback = FeedbackStore(feedback_url)
    try:
        posts = store.recent_posts(brands=[brand] if brand else None, limit=pool)
        labeled = feedback.corrected_post_ids()
        totals = feedback.label_totals()
    finally:
        store.close()
        feedback.close()
    fresh = [p for p in posts if p.id not in labeled]
    return rank_posts(load_classifier(model_dir), fresh, limit, totals=totals)

"""Repost detection: the same text again, from the same customer (a chase) or from many (a campaign).

``text_key`` hashes the *redacted* text after folding case, marks, punctuation and spacing, so that
"Where is my refund?!" and "where is my refund" match. With the identity key it is a keyed hash (HMAC-SHA256),
like every identity hash; without one, a plain SHA-256 of the folded redacted text (which the store keeps
anyway). Very short texts ("thanks!", "???") repeat by chance and get no key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from triage.context.chase import fold
from triage.context.identity import IdentityKey
from triage.context.types import PriorPost, RepostResult

MIN_WORDS = 4
MIN_CHARS = 16
_NOT_WORD = re.compile(r"[\W_]+")


def fold_for_repost(redacted_text: str) -> str:
    """Letters and digits of the folded text, single-spaced; placeholders like [PHONE] stay as words."""
    return _NOT_WORD.sub(" ", fold(redacted_text)).strip()


def text_key(redacted_text: str, key: IdentityKey | None = None) -> str | None:
    """The repost key of a redacted text, or None when the text is too short to say anything."""
    folded = fold_for_repost(redacted_text)
    if len(folded.split()) < MIN_WORDS or len(folded) < MIN_CHARS:
        return None
    if key is None:
        return hashlib.sha256(("text\x1f" + folded).encode("utf-8")).hexdigest()
    return hmac.new(key.secret, ("text\x1f" + folded).encode("utf-8"), hashlib.sha256).hexdigest()


def detect_repost(
    post_id: str | None,
    customer_key: str | None,
    earlier: Sequence[PriorPost],
    campaign_customers: int = 3,
) -> RepostResult:
    """Compare a post with the earlier posts of the same text key (``earlier``, any author)."""
    others = [p for p in earlier if p.post_id != post_id]
    same = [p for p in others if customer_key is not None and p.customer_key == customer_key]
    # Unknown authors count one each: two anonymous posts may well be two people.
    same_ids = {p.post_id for p in same}
    authors = {p.customer_key or f"post:{p.post_id}" for p in others if p.post_id not in same_ids}
    first = min(others, key=lambda p: p.created_at).post_id if others else None
    return RepostResult(
        is_repost=bool(others),
        same_customer=len(same),
        other_customers=len(authors),
        campaign=len(authors) + 1 >= campaign_customers,
        first_post_id=first,
    )

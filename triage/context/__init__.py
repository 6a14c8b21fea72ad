"""Context of a post in its stream: the customer's identity, follow-ups and reposts. Pure, no database.

- ``identity``: keyed hashes (HMAC-SHA256 with ``TRIAGE_IDENTITY_KEY``) of a customer id, a handle on a
  channel, and the phones, e-mails and order numbers among a post's entities. Only hashes leave memory.
- ``chase``: chasing phrases in Hebrew, English, Arabic and Russian ("נו???", "still waiting", "третий раз").
- ``followup``: is the post the same customer chasing a case they opened; how many contacts; urgency floor.
- ``repost``: the same redacted text again, from the same customer or from many (a campaign).
- ``provider``: the ``ContextProvider`` Protocol the engine asks (the post store implements it).
- ``metoo``: 'me too' replies ("גם אצלי", "same here") that take their parent's case.
- ``gather``: ``gather_context(provider, prepared_post, brand=..., key=...)`` -> ``ContextResult``.
- ``block``: the result's small ``TriageContext`` block, from a ``ContextResult`` or from the request's thread.

Imports pydantic and the standard library only (the fence test checks that no database stack comes in).
"""

from triage.context.block import context_labels, thread_context, thread_parent, to_triage_context
from triage.context.chase import Chase, find_chase
from triage.context.followup import CurrentPost, FollowUp, detect_follow_up
from triage.context.gather import (
    ParentCase,
    find_parent,
    gather_context,
    identity_of,
    parent_case,
    resolve_thread,
)
from triage.context.identity import (
    IDENTITY_KEY_ENV,
    IDENTITY_KINDS,
    IdentityHash,
    IdentityKey,
    PostIdentity,
    PostRefs,
    entity_hashes,
    normalise_email,
    normalise_phone,
    post_identity,
)
from triage.context.metoo import find_me_too
from triage.context.provider import ContextProvider, InMemoryContextProvider
from triage.context.repost import detect_repost, text_key
from triage.context.types import (
    URGENCY_ORDER,
    BrandReply,
    ContextConfig,
    ContextResult,
    PriorPost,
    RepostResult,
    raise_to_floor,
)

__all__ = [
    "IDENTITY_KEY_ENV",
    "IDENTITY_KINDS",
    "URGENCY_ORDER",
    "BrandReply",
    "Chase",
    "ContextConfig",
    "ContextProvider",
    "ContextResult",
    "CurrentPost",
    "FollowUp",
    "IdentityHash",
    "IdentityKey",
    "InMemoryContextProvider",
    "ParentCase",
    "PostIdentity",
    "PostRefs",
    "PriorPost",
    "RepostResult",
    "context_labels",
    "detect_follow_up",
    "detect_repost",
    "entity_hashes",
    "find_chase",
    "find_me_too",
    "find_parent",
    "gather_context",
    "identity_of",
    "normalise_email",
    "normalise_phone",
    "parent_case",
    "post_identity",
    "raise_to_floor",
    "resolve_thread",
    "text_key",
    "thread_context",
    "thread_parent",
    "to_triage_context",
]

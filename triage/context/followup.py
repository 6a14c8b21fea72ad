"""Follow-up detection: is this post the same customer chasing a case they already opened?

A post is a follow-up when it chases (``chase.find_chase``) or repeats the customer's earlier text, *and*
either an earlier post of the same customer belongs to the same case or the author states a contact number
of two or more ("third time I write"). An earlier post is on the same case when it is in the same thread,
shares an order or case number (keyed hash) or has the same text; a chase with nothing in common refers to
the customer's recent posts that nobody resolved. The contact count raises an urgency floor (the third
contact is at least ``high`` by default). Pure: the caller passes the history in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.context.chase import Chase
from triage.context.types import BrandReply, ContextConfig, PriorPost


@dataclass(frozen=True, slots=True)
class CurrentPost:
    """The post being triaged, as the follow-up test needs it."""

    post_id: str | None
    created_at: datetime
    thread_id: str | None = None
    case_hashes: frozenset[str] = frozenset()
    text_hash: str | None = None


@dataclass(frozen=True, slots=True)
class FollowUp:
    is_follow_up: bool
    repeat_count: int
    case: tuple[PriorPost, ...]
    linked: PriorPost | None
    case_id: str | None
    awaiting_brand: bool
    urgency_floor: str | None
    reasons: tuple[str, ...]


def case_posts(current: CurrentPost, prior: Sequence[PriorPost], chases: bool,
               config: ContextConfig) -> list[PriorPost]:
    """The customer's earlier posts on the same case as ``current``, oldest first."""
    open_since = current.created_at - timedelta(days=config.open_window_days)
    case = []
    for p in prior:
        if p.post_id == current.post_id or p.created_at > current.created_at:
            continue
        same_thread = current.thread_id is not None and current.thread_id in (p.thread_id, p.post_id)
        same_order = bool(current.case_hashes & p.case_hashes)
        same_text = current.text_hash is not None and p.text_hash == current.text_hash
        still_open = chases and not p.resolved and p.created_at >= open_since
        if same_thread or same_order or same_text or still_open:
            case.append(p)
    return sorted(case, key=lambda p: p.created_at)


def _floor(count: int, config: ContextConfig) -> str | None:
    floor = None
    for contacts, label in sorted(config.floors):
        if count >= contacts:
            floor = label
    return floor


def detect_follow_up(
    current: CurrentPost,
    chase: Chase,
    prior: Sequence[PriorPost],
    brand_reply: BrandReply | None = None,
    config: ContextConfig | None = None,
) -> FollowUp:
    """Decide whether ``current`` follows up an earlier post of the same customer (``prior``)."""
    config = config or ContextConfig()
    case = case_posts(current, prior, chase.found, config)
    repeats_text = current.text_hash is not None and any(p.text_hash == current.text_hash for p in case)
    stated = chase.stated_count or 0
    is_follow_up = (chase.found or repeats_text) and (bool(case) or stated >= 2)
    count = max(1 + len(case), stated) if is_follow_up else 1
    linked = case[-1] if case else None
    case_id = (case[0].thread_id or case[0].post_id) if case else None
    awaiting = linked is not None and (brand_reply is None or brand_reply.at < linked.created_at)
    reasons: list[str] = []
    if is_follow_up:
        why = f"chases ({', '.join(chase.phrases)})" if chase.found else "repeats the customer's earlier text"
        reasons.append(f"follow-up: {why}; contact {count} on this case")
        if stated >= 2:
            reasons.append(f"the author says this is contact {stated}")
        if linked is not None:
            reasons.append(f"follows post {linked.post_id} of {linked.created_at.isoformat(timespec='minutes')}")
        if awaiting:
            reasons.append("no brand reply since the customer's last post")
    floor = _floor(count, config) if is_follow_up else None
    if floor is not None:
        reasons.append(f"contact {count} on a case: urgency at least {floor}")
    return FollowUp(is_follow_up, count, tuple(case), linked, case_id, awaiting, floor, tuple(reasons))

"""One call for the engine or the router: a prepared post and a ContextProvider in, a ContextResult out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from triage.context.chase import Chase, find_chase
from triage.context.followup import CurrentPost, FollowUp, case_posts, detect_follow_up
from triage.context.identity import IdentityKey, PostIdentity, PostRefs, post_identity
from triage.context.metoo import find_me_too
from triage.context.provider import ContextProvider
from triage.context.repost import detect_repost, text_key
from triage.context.types import BrandReply, ContextConfig, ContextResult, PriorPost, RepostResult
from triage.types import PostContext

MAX_REPLY_THREADS = 10


def identity_of(prepared: PostContext, brand: str, key: IdentityKey, refs: PostRefs | None = None) -> PostIdentity:
    """The keyed hashes of a prepared post's author, customer id and entities."""
    post = prepared.post
    refs = refs or PostRefs.from_post(post)
    return post_identity(
        key,
        brand=brand,
        channel=post.channel,
        handle=post.author.handle if post.author else None,
        customer_id=refs.customer_id,
        entities=prepared.entities,
    )


def resolve_thread(provider: ContextProvider, refs: PostRefs, post_id: str | None,
                   parent: PriorPost | None = None) -> str | None:
    """The post's thread: given, else its parent's thread (asked from the provider), else its own id."""
    if refs.thread_id:
        return refs.thread_id
    if refs.parent_id:
        parent = parent if parent is not None else provider.parent_post(refs.parent_id)
        return (parent.thread_id or parent.post_id) if parent is not None else refs.parent_id
    return post_id


def find_parent(provider: ContextProvider, refs: PostRefs, post_id: str | None) -> PriorPost | None:
    """The stored post this one replies to: its ``parent_id``, else the root of its thread (a comment under
    a post: the thread id is the post's id), when stored and not the post itself."""
    for candidate in (refs.parent_id, refs.thread_id):
        if candidate and candidate != post_id:
            found = provider.parent_post(candidate)
            if found is not None:
                return found
    return None


def _last_reply(provider: ContextProvider, thread_id: str | None, case: list[PriorPost]) -> BrandReply | None:
    """The brand's latest reply in this post's thread or in any thread of its case (at most 10 threads)."""
    threads = [thread_id] if thread_id else []
    for p in reversed(case):
        t = p.thread_id or p.post_id
        if t not in threads and len(threads) < MAX_REPLY_THREADS:
            threads.append(t)
    replies = [r for r in (provider.last_brand_reply(t) for t in threads) if r is not None]
    return max(replies, key=lambda r: r.at) if replies else None


def _repost_reasons(repost: RepostResult | None) -> list[str]:
    if repost is None or not repost.is_repost:
        return []
    out = []
    if repost.same_customer:
        out.append(f"repost: the same text as {repost.same_customer} earlier post(s) of this customer")
    if repost.other_customers:
        kind = "a copy-paste campaign" if repost.campaign else "a repeated text"
        out.append(f"repost: {repost.other_customers} other author(s) posted the same text ({kind})")
    return out


def _result(customer: str | None, thread_id: str | None, chase: Chase, follow: FollowUp, reply: BrandReply | None,
            repost: RepostResult | None, parent: ParentCase) -> ContextResult:
    linked = follow.linked
    return ContextResult(
        customer_key=customer,
        thread_id=thread_id,
        is_follow_up=follow.is_follow_up,
        chase_only=chase.chase_only,
        chase_phrases=list(chase.phrases),
        repeat_count=follow.repeat_count,
        stated_count=chase.stated_count,
        linked_post_id=linked.post_id if linked else None,
        case_id=follow.case_id,
        case_labels=dict(follow.case[0].labels) if follow.case else dict(parent.labels),
        awaiting_brand=follow.awaiting_brand,
        last_brand_reply_at=reply.at if reply else None,
        urgency_floor=follow.urgency_floor,
        repost=repost,
        parent_post_id=parent.post_id,
        me_too=parent.me_too,
        case_queue=linked.queue if follow.is_follow_up and linked else parent.queue,
        case_priority=linked.priority if follow.is_follow_up and linked else parent.priority,
        case_triggers=list(parent.triggers),
        reasons=[*follow.reasons, *parent.reasons, *_repost_reasons(repost)],
    )


@dataclass(frozen=True, slots=True)
class ParentCase:
    """What a reply takes from its parent: only a 'me too' reply takes the parent's labels, queue, triggers."""

    post_id: str | None = None
    me_too: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    queue: str | None = None
    priority: str | None = None
    triggers: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


def parent_case(parent: PriorPost | None, text: str, customer: str | None) -> ParentCase:
    """The parent's case for a 'me too' reply of another customer (``find_me_too``), else just its id."""
    if parent is None:
        return ParentCase()
    phrase = find_me_too(text)
    if phrase is None or (customer is not None and parent.customer_key == customer):
        return ParentCase(parent.post_id)
    shown = ", ".join(f"{k}={v}" for k, v in parent.labels.items())
    why = f"'me too' reply ({phrase}) to post {parent.post_id}: takes its case ({shown or 'no labels'}"
    why += f", queue {parent.queue})" if parent.queue else ")"
    return ParentCase(parent.post_id, True, dict(parent.labels), parent.queue, parent.priority, parent.triggers,
                      (why,))


def gather_context(
    provider: ContextProvider,
    prepared: PostContext,
    *,
    brand: str,
    key: IdentityKey | None,
    refs: PostRefs | None = None,
    now: datetime | None = None,
    config: ContextConfig | None = None,
) -> ContextResult:
    """Follow-up and repost context of one prepared post (``Engine.prepare``) for ``brand``.

    ``brand`` must be the brand the post is routed and stored under (the post's, else the default brand):
    identity hashes include it. Without ``key`` no customer is recognised, so only a stated contact number
    ("third time") makes a follow-up, and the repost key is an unkeyed hash of the redacted text.
    """
    config = config or ContextConfig()
    post = prepared.post
    refs = refs or PostRefs.from_post(post)
    when = (now or post.created_at or datetime.now(UTC)).astimezone(UTC)
    identity = identity_of(prepared, brand, key, refs) if key is not None else None
    customer = provider.find_customer(identity) if identity is not None else None
    parent = find_parent(provider, refs, post.id)
    thread_id = resolve_thread(provider, refs, post.id, parent)
    text_hash = text_key(prepared.redacted_text, key)
    since = when - timedelta(days=config.case_window_days)
    prior = provider.recent_posts_for_customer(customer, since=since, limit=config.recent_limit) if customer else []
    chase = find_chase(prepared.redacted_text)
    case_hashes = identity.case_hashes if identity is not None else frozenset()
    current = CurrentPost(post.id, when, thread_id, case_hashes, text_hash)
    reply = _last_reply(provider, thread_id, case_posts(current, prior, chase.found, config))
    follow = detect_follow_up(current, chase, prior, reply, config)
    repost = None
    if text_hash is not None:
        since = when - timedelta(days=config.repost_window_days)
        earlier = provider.posts_with_text_hash(brand, text_hash, since=since, limit=config.recent_limit)
        earlier = [p for p in earlier if p.created_at <= when]
        repost = detect_repost(post.id, customer, earlier, config.campaign_customers) if earlier else None
    case = parent_case(parent, prepared.redacted_text, customer) if not follow.is_follow_up else ParentCase(
        parent.post_id if parent else None)
    return _result(customer, thread_id, chase, follow, reply, repost, case)

"""The context block of a triage result (``triage.types.TriageContext``), from a store or from the request.

``to_triage_context`` turns the context stage's full ``ContextResult`` (customer key, chase phrases...) into
the small block a result carries. ``thread_context`` builds one from the post's own ``thread`` when there is
no post store: a 'me too' reply, the brand's reply in the thread, a chase after earlier customer messages.
``context_labels`` gives a result's labels under its context (a parent's labels, the urgency floor).
"""

from __future__ import annotations

from collections.abc import Mapping

from triage.context.chase import find_chase
from triage.context.metoo import find_me_too
from triage.context.types import ContextConfig, ContextResult, raise_to_floor
from triage.types import PRIORITIES, Post, PostContext, ThreadMessage, TriageContext


def to_triage_context(result: ContextResult) -> TriageContext:
    """The block a triage result carries (no customer key, no chase phrases: those stay in the store)."""
    repost = result.repost
    priority = result.case_priority if result.case_priority in PRIORITIES else None
    return TriageContext(
        thread_id=result.thread_id,
        parent_post_id=result.parent_post_id,
        me_too=result.me_too,
        case_id=result.case_id,
        is_follow_up=result.is_follow_up,
        repeat_count=result.repeat_count,
        linked_post_id=result.linked_post_id,
        case_queue=result.case_queue,
        case_priority=priority,  # type: ignore[arg-type]
        case_labels=dict(result.case_labels),
        case_triggers=list(result.case_triggers),
        urgency_floor=result.urgency_floor,
        awaiting_brand=result.awaiting_brand,
        last_brand_reply_at=result.last_brand_reply_at,
        repost=bool(repost and repost.is_repost),
        campaign=bool(repost and repost.campaign),
        reasons=list(result.reasons),
    )


def thread_parent(post: Post) -> ThreadMessage | None:
    """The message a reply answers, from the request's thread: the latest one not written by the brand."""
    return next((m for m in reversed(post.thread) if m.role != "brand"), None)


def _floor(count: int, config: ContextConfig) -> str | None:
    found = None
    for contacts, label in sorted(config.floors):
        if count >= contacts:
            found = label
    return found


def thread_context(prepared: PostContext, config: ContextConfig | None = None) -> TriageContext | None:
    """Context from ``post.thread`` alone (no store), or None when the post has no thread."""
    config = config or ContextConfig()
    post = prepared.post
    if not post.thread:
        return None
    last_brand = max((i for i, m in enumerate(post.thread) if m.role == "brand"), default=-1)
    own_since = [m for m in post.thread[last_brand + 1:] if m.role == "customer"]
    chase = find_chase(prepared.redacted_text)
    reasons: list[str] = []
    if chase.found and own_since:
        count = max(1 + len(own_since), chase.stated_count or 0)
        floor = _floor(count, config)
        reasons.append(f"follow-up in the thread: chases ({', '.join(chase.phrases)}); contact {count} since the "
                       "brand's last message")
        if floor is not None:
            reasons.append(f"contact {count} on a case: urgency at least {floor}")
        return TriageContext(is_follow_up=True, repeat_count=count, urgency_floor=floor, awaiting_brand=True,
                             reasons=reasons)
    parent = thread_parent(post)
    phrase = find_me_too(prepared.redacted_text) if parent is not None else None
    if phrase is not None:
        reasons.append(f"'me too' reply ({phrase}) to the thread's message: takes its case")
    return TriageContext(me_too=phrase is not None, awaiting_brand=last_brand < len(post.thread) - 1,
                         reasons=reasons)


def context_labels(labels: Mapping[str, str], context: TriageContext | None,
                   urgency_head: str | None) -> tuple[dict[str, str], list[str]]:
    """The decision's labels: a 'me too' reply takes its parent's labels (its urgency only when higher), and
    a repeated contact raises the urgency to the context's floor. Returns the labels and what changed."""
    out = dict(labels)
    changes: list[str] = []
    if context is None:
        return out, changes
    if context.me_too:
        for head, label in context.case_labels.items():
            if head not in out or out[head] == label:
                continue
            new = raise_to_floor(out[head], label) if head == urgency_head else label
            if new != out[head]:
                changes.append(f"{head} {out[head]} → {new} (the parent's)")
                out[head] = new
    if urgency_head is not None and urgency_head in out:
        raised = raise_to_floor(out[urgency_head], context.urgency_floor)
        if raised != out[urgency_head]:
            changes.append(f"{urgency_head} {out[urgency_head]} → {raised} (contact {context.repeat_count} "
                           "on the case)")
            out[urgency_head] = raised
    return out, changes

"""What the context stage reads (earlier posts, the brand's last reply) and what it returns (``ContextResult``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# Urgency labels of the default schema, least urgent first (a brand's own schema may have others).
URGENCY_ORDER: tuple[str, ...] = ("low", "normal", "high", "critical")


@dataclass(frozen=True, slots=True)
class PriorPost:
    """An earlier post as the context stage sees it: references, hashes and labels, redacted text only."""

    post_id: str
    brand: str
    channel: str
    created_at: datetime
    thread_id: str | None = None
    parent_id: str | None = None
    customer_key: str | None = None
    text_hash: str | None = None
    case_hashes: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    redacted_text: str = ""
    is_follow_up: bool = False
    resolved: bool = False
    queue: str | None = None
    priority: str | None = None
    triggers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BrandReply:
    """The brand's latest reply in a thread (a helpdesk ``replied`` event)."""

    thread_id: str
    at: datetime
    post_id: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class ContextConfig:
    """How far back to look and how a repeated contact raises urgency."""

    case_window_days: float = 14.0  # earlier posts of the same customer considered at all
    open_window_days: float = 7.0  # a chase with no thread or order in common refers to open posts this recent
    repost_window_days: float = 3.0
    recent_limit: int = 50
    urgency_head: str = "urgency"  # the head whose label a repeated contact raises
    # (contacts, urgency at least): the third contact on a case is at least `high`.
    floors: tuple[tuple[int, str], ...] = ((2, "normal"), (3, "high"))
    campaign_customers: int = 3  # this many different customers posting the same text is a campaign


class RepostResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    is_repost: bool = Field(description="The same normalised text was posted before (by anyone).")
    same_customer: int = Field(ge=0, description="Earlier posts of this text by the same customer.")
    other_customers: int = Field(ge=0, description="Different other authors who posted this text.")
    campaign: bool = Field(description="At least `campaign_customers` authors posted it: copy-paste campaign.")
    first_post_id: str | None = None


class ContextResult(BaseModel):
    """What the customer's history says about one post."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_key: str | None = Field(default=None, description="Opaque key of the customer, when recognised.")
    thread_id: str | None = None
    is_follow_up: bool = False
    chase_only: bool = Field(default=False, description="The post only chases; it brings nothing new.")
    chase_phrases: list[str] = Field(default_factory=list)
    repeat_count: int = Field(default=1, ge=1, description="Contacts on this case, this one included.")
    stated_count: int | None = Field(default=None, description="The contact number the author states.")
    linked_post_id: str | None = Field(default=None, description="The customer's latest earlier post on the case.")
    case_id: str | None = Field(default=None, description="Thread (or post) id of the case's first post.")
    case_labels: dict[str, str] = Field(default_factory=dict, description="Labels of the case's first post.")
    awaiting_brand: bool = Field(default=False, description="No brand reply since the customer's last post.")
    last_brand_reply_at: datetime | None = None
    urgency_floor: str | None = Field(default=None, description="Urgency this post must have at least.")
    repost: RepostResult | None = None
    parent_post_id: str | None = Field(default=None, description="The stored parent of a reply.")
    me_too: bool = Field(default=False, description="A 'me too' reply: it takes its parent's case.")
    case_queue: str | None = Field(default=None, description="Queue of the case's latest post (or the parent's).")
    case_priority: str | None = None
    case_triggers: list[str] = Field(default_factory=list, description="Triggers of the parent of a 'me too'.")
    reasons: list[str] = Field(default_factory=list)


def raise_to_floor(label: str, floor: str | None, order: tuple[str, ...] = URGENCY_ORDER) -> str:
    """``label`` raised to ``floor`` when it is lower; unchanged when either is not in ``order``."""
    if floor is None or label not in order or floor not in order:
        return label
    return floor if order.index(floor) > order.index(label) else label

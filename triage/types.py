"""Typed results of every pipeline stage.

Data flows one way: ``Post`` -> ``NormalisedText`` -> ``LanguageResult`` -> ``EntitiesResult`` ->
``Classification`` -> ``RoutingDecision`` -> ``SuggestedReply`` list -> ``TriageResult``.
Every stage returns one of these pydantic models, so a stage can be tested, logged and replaced alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHANNELS: tuple[str, ...] = (
    "facebook",
    "instagram",
    "twitter",
    "tiktok",
    "whatsapp",
    "messenger",
    "telegram",
    "review",
    "email",
    "web",
)
Channel = Literal[
    "facebook", "instagram", "twitter", "tiktok", "whatsapp", "messenger", "telegram", "review", "email", "web"
]
# Channels on which the author's message is not visible to the public.
PRIVATE_CHANNELS: frozenset[str] = frozenset({"whatsapp", "messenger", "telegram", "email"})

Language = Literal["he", "en", "ar", "ru", "other"]
LANGUAGES: tuple[str, ...] = ("he", "en", "ar", "ru", "other")

EntityType = Literal["phone", "email", "il_id", "card", "order_id", "url", "mention"]
ENTITY_TYPES: tuple[str, ...] = ("phone", "email", "il_id", "card", "order_id", "url", "mention")
# Entity types whose value is personal data: replaced in redacted text, never logged.
REDACTED_TYPES: dict[str, str] = {"phone": "[PHONE]", "email": "[EMAIL]", "il_id": "[IL_ID]", "card": "[CARD]"}


EARLIEST_POST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_POST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_METADATA_FIELDS = 64
MAX_METADATA_CHARS = 1000
MAX_METADATA_INT = 2**63


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Author(_Frozen):
    """Who wrote the post, as the channel reports it. Used to fill reply placeholders."""

    name: str | None = None
    first_name: str | None = None
    handle: str | None = None
    gender: Literal["f", "m"] | None = Field(
        default=None, description="Grammatical gender to address the author with (Hebrew replies); unset: neutral."
    )


class ThreadMessage(_Frozen):
    """An earlier message in the same thread, oldest first."""

    role: Literal["customer", "brand", "other"] = "customer"
    text: str


class Post(_Frozen):
    """One inbound post addressed to a brand."""

    text: str
    id: str | None = None
    channel: Channel = "facebook"
    brand: str | None = Field(default=None, description="Brand policy to route with; the default brand when unset.")
    author: Author | None = None
    created_at: datetime | None = Field(default=None, description="When the post was written; now when unset.")
    thread: list[ThreadMessage] = Field(default_factory=list)
    metadata: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Brand-specific fields from the caller's CRM (vip, customer_tier...); policy rules match them.",
    )
    agent_name: str | None = Field(default=None, max_length=80,
                                   description="Who signs the suggested replies (the {agent_name} placeholder).")
    eta: str | None = Field(default=None, max_length=120, description="When the brand will answer, as a phrase "
                            "('עד 16:00 היום', 'by 4 pm today') or a time ('16:00'): the {eta} placeholder.")

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # Naive timestamps are taken as UTC so that SLA arithmetic never depends on the server's zone.
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        # SLA clocks add days and business hours to this time: year 1 or 9999 overflows, and no real post
        # was written before social networks or a century from now.
        if value is not None and not EARLIEST_POST <= value <= LATEST_POST:
            raise ValueError(f"must lie between {EARLIEST_POST.date()} and {LATEST_POST.date()} (got "
                             f"{value.isoformat()})")
        return value

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        # Policy rules compare these; unbounded values (a 5,000-digit integer, a megabyte string) only cost.
        if len(value) > MAX_METADATA_FIELDS:
            raise ValueError(f"has {len(value)} fields, more than {MAX_METADATA_FIELDS}")
        for key, item in value.items():
            if len(key) > MAX_METADATA_CHARS:
                raise ValueError(f"key {key[:40]!r}... is longer than {MAX_METADATA_CHARS} characters")
            if isinstance(item, str) and len(item) > MAX_METADATA_CHARS:
                raise ValueError(f"{key!r} is longer than {MAX_METADATA_CHARS} characters")
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_METADATA_INT:
                raise ValueError(f"{key!r} is an integer outside ±2**63")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{key!r} is not a finite number")
        return value

    @property
    def is_public(self) -> bool:
        return self.channel not in PRIVATE_CHANNELS


class NormalisedText(_Frozen):
    """Text prepared for matching and the model, with a map back to the original characters.

    ``starts[i]``/``ends[i]`` give the original span ``[start, end)`` that produced normalised character i.
    """

    original: str
    text: str
    starts: list[int]
    ends: list[int]
    changes: list[str] = Field(default_factory=list, description="What normalisation removed or rewrote.")

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised span ``[start, end)`` to the original text."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} is outside the normalised text of length {len(self.text)}")
        return self.starts[start], self.ends[end - 1]


class LanguageResult(_Frozen):
    language: Language
    confidence: float = Field(ge=0.0, le=1.0)
    scripts: dict[str, float] = Field(default_factory=dict, description="Share of letters per script.")
    method: str = Field(description="How the decision was made: script, detector, or no-letters.")


class Entity(_Frozen):
    type: EntityType
    start: int = Field(ge=0, description="Offset into the ORIGINAL post text.")
    end: int = Field(gt=0)
    text: str = Field(description="The span as written in the original text.")
    value: str = Field(description="Canonical value: digits only for numbers, lower-case for emails.")
    redacted: bool = Field(description="True when the redacted text replaces this span.")


class EntitiesResult(_Frozen):
    entities: list[Entity]
    redacted_text: str


class HeadPrediction(_Frozen):
    """One head's calibrated decision."""

    label: str
    confidence: float = Field(ge=0.0, le=1.0)
    probabilities: dict[str, float]
    margin: float = Field(description="Top-1 minus top-2 probability.")
    threshold: float = Field(description="Confidence below which a person should check this head.")
    uncertain: bool = Field(description="Confidence below threshold.")


class Classification(_Frozen):
    heads: dict[str, HeadPrediction]
    model_version: str


ReplyMode = Literal["public", "private"]
Action = Literal["reply", "escalate", "hide", "like", "none"]
Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")  # most urgent first


class RoutingDecision(_Frozen):
    brand: str
    queue: str
    priority: Priority
    rule: str = Field(description="Id of the policy rule that matched (or 'default').")
    first_response_due: datetime
    sla_minutes: int = Field(description="The SLA row's budget, in open minutes or clock minutes.")
    around_the_clock: bool
    reply_mode: ReplyMode
    private_reply_due: datetime | None = Field(
        default=None, description="Last moment the platform allows a private reply to this public comment."
    )
    actions: list[Action]
    needs_human: bool
    reasons: list[str]
    templates: list[str] = Field(default_factory=list, description="Reply templates the matched rule prefers.")
    triggers: list[str] = Field(default_factory=list, description="Critical trigger names the policy's `triggers:` "
                                "found in the post (outage, phishing, lawyer, media...): the crisis detector's input.")


class SuggestedReply(_Frozen):
    template_id: str
    language: str
    text: str
    score: float
    reply_mode: ReplyMode
    missing_placeholders: list[str] = Field(default_factory=list)
    source: Literal["template", "knowledge_base"] = "template"
    variants: dict[str, str] = Field(
        default_factory=dict, description="Gendered forms of the text when the template has them ('f', 'm')."
    )


class IncidentRef(_Frozen):
    """The open incident (``triage.stream``) a post was counted in."""

    id: str
    state: Literal["opened", "growing", "resolved"]
    kind: Literal["volume", "viral", "trigger"] = Field(description="The signal that opened it.")
    triggers: list[str] = Field(default_factory=list)
    posts: int = Field(ge=0, description="Posts counted in it so far.")
    first_post_id: str


class TriageContext(_Frozen):
    """What the post's stream says: its thread and case, a follow-up, a repost, an open incident.

    Filled when the engine has a ``ContextProvider`` (the post store) or the post brings its ``thread``.
    """

    thread_id: str | None = None
    parent_post_id: str | None = Field(default=None, description="The stored post this one replies to.")
    me_too: bool = Field(default=False, description="A 'me too' reply ('גם אצלי'): it takes its parent's case.")
    case_id: str | None = Field(default=None, description="Thread (or post) id of the first post of the case.")
    is_follow_up: bool = False
    repeat_count: int = Field(default=1, ge=1, description="Contacts on this case, this one included.")
    linked_post_id: str | None = Field(default=None, description="The customer's latest earlier post on the case.")
    case_queue: str | None = Field(default=None, description="Queue of the case (its latest post, or the parent).")
    case_priority: Priority | None = None
    case_labels: dict[str, str] = Field(default_factory=dict, description="Labels of the case's first post "
                                        "(of the parent, for a 'me too' reply).")
    case_triggers: list[str] = Field(default_factory=list, description="Triggers of the parent, for a 'me too'.")
    urgency_floor: str | None = Field(default=None, description="Urgency this post has at least (repeated contact).")
    urgency_raised_from: str | None = Field(default=None, description="The model's urgency when context raised it.")
    awaiting_brand: bool = Field(default=False, description="No brand reply since the customer's last post.")
    last_brand_reply_at: datetime | None = None
    repost: bool = Field(default=False, description="The same text was posted before (by anyone).")
    campaign: bool = Field(default=False, description="Several customers posted the same text.")
    incident: IncidentRef | None = None
    reasons: list[str] = Field(default_factory=list)


class TriageResult(_Frozen):
    """Everything triage knows about one post."""

    post_id: str | None
    language: LanguageResult
    labels: dict[str, str] = Field(description="Head name -> label, for quick use.")
    heads: dict[str, HeadPrediction]
    entities: list[Entity]
    redacted_text: str
    normalised_text: str
    routing: RoutingDecision | None = None
    suggested_replies: list[SuggestedReply] = Field(default_factory=list)
    reply_notes: list[str] = Field(default_factory=list)
    model_version: str
    schema_name: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    context: TriageContext | None = Field(default=None, description="The post's stream context: case, follow-up, "
                                          "repost, incident (with a post store or a thread).")


@dataclass(frozen=True)
class PostContext:
    """A post after the stages that need no model (normalise, language, entities), computed once.

    Routing, replies and every shell that needs the redacted text (feedback, inspect) read it from here
    instead of running the stages again.
    """

    post: Post
    normalised: NormalisedText
    language: LanguageResult
    entities: EntitiesResult
    timings_ms: dict[str, float] = field(default_factory=dict)
    history: TriageContext | None = None  # the stream context, when the engine gathers one (router input)

    @property
    def redacted_text(self) -> str:
        return self.entities.redacted_text

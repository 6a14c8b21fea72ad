"""Typed inputs and outputs of the crisis detector.

``StreamEvent`` is one triaged post as the detector sees it: labels, queue, redacted text, an optional
embedding, critical trigger names and engagement counts. It is a slotted dataclass rather than a pydantic
model because the detector reads hundreds of thousands of them and an embedding of 384 floats would be
validated one float at a time. ``Incident`` is the output: a pydantic model, so the API can return it as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triage.context.identity import IdentityKey, normalise_handle

IncidentKind = Literal["volume", "viral", "trigger"]
IncidentState = Literal["opened", "growing", "resolved"]
ChangeKind = Literal["opened", "growing", "resolved"]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One post as the stream detector sees it, after triage. ``text`` must already be redacted."""

    time: datetime
    brand: str
    channel: str
    post_id: str
    intent: str
    sentiment: str
    urgency: str
    queue: str
    text: str = ""
    embedding: Sequence[float] | Any | None = field(default=None, repr=False)  # 1-D numpy array or list of floats
    triggers: tuple[str, ...] = ()
    shares: int | None = None
    likes: int | None = None
    views: int | None = None
    author: str | None = None  # a pseudonymous key (see ``author_key``), never a name or handle
    refresh: bool = False  # True: a post already sent, seen again with newer engagement counts

    def __post_init__(self) -> None:
        # Hour-of-week seasonality is computed in each brand's local time; a naive time would be ambiguous.
        if self.time.tzinfo is None:
            raise ValueError("StreamEvent.time must be timezone-aware")


def author_key(brand: str, channel: str, handle: str, key: IdentityKey) -> str:
    """A stable pseudonym for an author: enough to count distinct people, useless to identify one.

    A keyed hash (HMAC-SHA256 with ``TRIAGE_IDENTITY_KEY``, like every identity hash in
    ``triage.context.identity``), in a namespace of its own: without the key nobody can test whether a
    known handle wrote a post, and it never equals the post store's handle hash.
    """
    return "a" + key.digest(brand, "stream_author", normalise_handle(channel, handle))[:16]


class IncidentTopic(BaseModel):
    """What an incident is about: its complaint cluster and the labels of the posts in it."""

    model_config = ConfigDict(extra="forbid")

    cluster: str = Field(description="Id of the complaint cluster (embedding or text-signature leader).")
    label: str = Field(description="intent|queue of the topic that opened it ('*|*' when the whole cluster did).")
    intents: dict[str, int] = Field(default_factory=dict, description="Posts per intent while open.")
    queues: dict[str, int] = Field(default_factory=dict, description="Posts per queue while open.")
    sample: str = Field(default="", description="Redacted text of the first post, shortened.")


class Incident(BaseModel):
    """A crisis candidate for one brand, with the evidence that opened it and its lifecycle."""

    model_config = ConfigDict(extra="forbid")

    id: str
    brand: str
    kind: IncidentKind = Field(description="The signal that opened it: volume, viral, or trigger.")
    state: IncidentState
    topic: IncidentTopic
    triggers: list[str] = Field(default_factory=list, description="Critical trigger names seen in its posts.")
    first_seen: datetime = Field(description="Time of the earliest post in the evidence that opened it.")
    last_seen: datetime
    opened_at: datetime = Field(description="Stream time at which the detector opened it.")
    updated_at: datetime
    resolved_at: datetime | None = None
    posts: int = Field(description="Posts counted: the opening window plus every post attached while open.")
    counts_by_channel: dict[str, int] = Field(default_factory=dict)
    authors: int = Field(description="Distinct authors among the attached posts (lower bound).")
    score: float = Field(description="Strongest evidence so far, in -log10 p units (see triage/stream/README.md).")
    first_post_id: str
    example_post_ids: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """A lifecycle step: an incident was opened, started growing, or was resolved."""

    change: ChangeKind
    incident: Incident


@dataclass(frozen=True, slots=True)
class Observation:
    """What the detector did with one event: its cluster, the incident it joined, and lifecycle changes."""

    post_id: str
    cluster: str | None
    incident_id: str | None
    changes: tuple[IncidentChange, ...] = ()

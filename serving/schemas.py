"""Request and response models of the API, with the Hebrew and English examples OpenAPI shows.

A single post is ``triage.types.Post`` itself and a result is ``triage.types.TriageResult``: the API
speaks the library's types, so the two can never drift apart.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.schema import LabelSchema
from triage.types import Post, TriageResult

HEBREW_COMPLAINT = "שבועיים מחכה לחבילה, הזמנה 4471902, ואף אחד לא עונה. תחזרו אליי 052-3456789"
ENGLISH_CHURN = "Charged twice this month. Again. Cancel my subscription now"

POST_EXAMPLES: dict[str, dict[str, Any]] = {
    "hebrew_complaint": {
        "summary": "Hebrew: a complaint with an order number and a phone",
        "value": {"text": HEBREW_COMPLAINT, "id": "fb-10001", "channel": "facebook"},
    },
    "english_churn": {
        "summary": "English: churn risk on Twitter",
        "value": {"text": ENGLISH_CHURN, "id": "tw-20002", "channel": "twitter", "author": {"handle": "@dana_k"}},
    },
    "mixed_question": {
        "summary": "Hebrew and English mixed, a private message in a thread",
        "value": {
            "text": "היי, איך עושים reset לראוטר? ה-wifi לא עובד מהבוקר",
            "id": "wa-30003",
            "channel": "whatsapp",
            "created_at": "2025-11-23T09:15:00+02:00",
            "thread": [{"role": "customer", "text": "שלום, יש לי בעיה עם האינטרנט"}],
        },
    },
}

BATCH_EXAMPLES: dict[str, dict[str, Any]] = {
    "hebrew_and_english": {
        "summary": "Hebrew and English posts in one call",
        "value": {
            "posts": [
                {"text": HEBREW_COMPLAINT, "id": "fb-10001", "channel": "facebook"},
                {"text": "תודה לנציגה שרית, שירות מדהים!", "id": "ig-10002", "channel": "instagram"},
                {"text": ENGLISH_CHURN, "id": "tw-20002", "channel": "twitter"},
                {"text": "How do I reset my router?", "id": "web-20003", "channel": "web"},
            ]
        },
    }
}

FEEDBACK_EXAMPLES: dict[str, dict[str, Any]] = {
    "hebrew_urgency": {
        "summary": "Hebrew: the agent raises urgency (the phone is stored redacted)",
        "value": {
            "post_id": "fb-10001",
            "head": "urgency",
            "label": "high",
            "text": HEBREW_COMPLAINT,
            "note": "לקוחה חוזרת, פעם שלישית שהיא כותבת",
        },
    },
    "english_intent": {
        "summary": "English: the agent corrects the intent",
        "value": {
            "post_id": "tw-20002",
            "head": "intent",
            "label": "churn_risk",
            "text": ENGLISH_CHURN,
            "note": "explicit cancellation request",
            "model_version": "default@1.0.0",
        },
    },
    "whole_decision": {
        "summary": "Hebrew: the agent corrects intent, urgency, queue, actions and edits the reply",
        "value": {
            "post_id": "fb-10001",
            "text": HEBREW_COMPLAINT,
            "actor": "agent-17",
            "note": "לקוחה חוזרת, משלוח תקוע",
            "corrections": {
                "labels": {"intent": "complaint", "urgency": "high"},
                "queue": "shipping",
                "reply_mode": "private",
                "actions": ["escalate", "reply"],
                "reply": {"outcome": "edited", "template_id": "he.shipping.delay",
                          "text": "מצטערים! בודקים את הזמנה 4471902"},
            },
        },
    },
}

# One full decision as the model returns it, for the documentation of POST /v1/triage.
RESULT_EXAMPLE: dict[str, Any] = {
    "post_id": "fb-10001",
    "language": {"language": "he", "confidence": 1.0, "scripts": {"hebrew": 1.0}, "method": "script"},
    "labels": {"intent": "complaint", "sentiment": "negative", "urgency": "high"},
    "heads": {
        "intent": {
            "label": "complaint", "confidence": 0.91, "margin": 0.85, "threshold": 0.45, "uncertain": False,
            "probabilities": {
                "spam": 0.0, "churn_risk": 0.03, "complaint": 0.91, "request": 0.06, "purchase_intent": 0.0,
                "question": 0.0, "suggestion": 0.0, "praise": 0.0, "other": 0.0,
            },
        },
        "sentiment": {
            "label": "negative", "confidence": 0.95, "margin": 0.91, "threshold": 0.45, "uncertain": False,
            "probabilities": {"negative": 0.95, "neutral": 0.04, "positive": 0.01},
        },
        "urgency": {
            "label": "high", "confidence": 0.72, "margin": 0.48, "threshold": 0.45, "uncertain": False,
            "probabilities": {"critical": 0.02, "high": 0.72, "normal": 0.24, "low": 0.02},
        },
    },
    "entities": [
        {"type": "order_id", "start": 27, "end": 34, "text": "4471902", "value": "4471902", "redacted": False},
        {"type": "phone", "start": 64, "end": 75, "text": "052-3456789", "value": "0523456789", "redacted": True},
    ],
    "redacted_text": "שבועיים מחכה לחבילה, הזמנה 4471902, ואף אחד לא עונה. תחזרו אליי [PHONE]",
    "normalised_text": HEBREW_COMPLAINT,
    "routing": None,
    "suggested_replies": [],
    "reply_notes": [],
    "model_version": "default@1.0.0",
    "schema_name": "default",
    "timings_ms": {"normalise": 0.1, "language": 0.4, "entities": 1.2, "classify": 14.8},
}


# RFC 3339 date-time, as OpenAPI's "date-time" format means it: with its UTC offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


class PostRequest(Post):
    """A post as the API accepts it: ``triage.types.Post``, with ``created_at`` only as RFC 3339 text.

    The library also takes naive times (as UTC) and Unix timestamps; over HTTP an SLA clock must not
    depend on a guess, so the API asks for the offset, as its OpenAPI ``date-time`` format says.
    """

    @field_validator("created_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str) or not _RFC3339.match(value):
            raise ValueError("created_at must be an RFC 3339 date-time with its offset, e.g. 2025-11-23T09:15:00+02:00")
        return value


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    posts: list[PostRequest] = Field(min_length=1, description="At most TRIAGE_MAX_BATCH posts (see GET /v1/model).")


class BatchResponse(BaseModel):
    results: list[TriageResult] = Field(description="One result per post, in the order sent.")


class ReplyCorrection(BaseModel):
    """What the agent did with the suggested reply."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["chosen", "edited", "rejected"] = Field(
        description="chosen: sent as suggested (an accepted auto-reply suggestion, audited); edited: sent after "
        "changes; rejected: not used.")
    template_id: str | None = Field(default=None, max_length=200, description="The suggested reply's template_id.")
    text: str | None = Field(default=None, max_length=5000,
                             description="The reply as sent after the agent's edit; stored redacted.")


class DecisionCorrection(BaseModel):
    """The right decision, field by field: give only what the agent changed (or confirmed)."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] | None = Field(default=None, max_length=16,
                                          description="head -> right label, e.g. {\"intent\": \"complaint\"}.")
    queue: str | None = Field(default=None, max_length=64, description="The queue the post should have gone to.")
    reply_mode: Literal["public", "private"] | None = Field(default=None, description="public or private.")
    actions: list[Literal["reply", "escalate", "hide", "like", "none"]] | None = Field(
        default=None, min_length=1, max_length=5,
        description="The right set of actions (e.g. [\"escalate\"]; [\"none\"]: no automated action).")
    reply: ReplyCorrection | None = None


class FeedbackRequest(BaseModel):
    """An agent's correction of one post's decision: one head's label (head, label), or any part of the
    decision (corrections), or both. Who corrected it (actor) and why (note) go with it."""

    model_config = ConfigDict(extra="forbid")

    post_id: str = Field(min_length=1, max_length=200, description="The post's id, as sent to /v1/triage.")
    head: str | None = Field(default=None, min_length=1, max_length=64, description="The corrected head, e.g. intent.")
    label: str | None = Field(default=None, min_length=1, max_length=80, description="The right label for that head.")
    corrections: DecisionCorrection | None = Field(default=None, description="Several fields of the decision at once.")
    text: str = Field(description="The post's text; stored only after redaction of personal data.")
    note: str | None = Field(default=None, max_length=2000, description="Why (the agent's note); stored redacted.")
    actor: str | None = Field(default=None, min_length=1, max_length=200,
                              description="Who corrected it (the agent's id in the helpdesk).")
    model_version: str | None = Field(
        default=None, max_length=200, description="The model that made the corrected decision; default: the loaded one."
    )


class StoredCorrection(BaseModel):
    id: int
    post_id: str
    head: str = Field(description="A schema head, or queue, reply_mode, actions or reply.")
    label: str = Field(description="The right value (actions: sorted, joined by +).")
    kind: str = Field(default="label", description="label, routing, action or reply.")
    note: str | None = Field(description="The note as stored (redacted).")
    redacted_text: str = Field(description="The text as stored (redacted).")
    model_version: str | None
    tenant: str | None = Field(description="The API key's tenant; null when authentication is off.")
    actor: str | None = None
    source: str = Field(default="api", description="api, or the file format it was imported from.")
    template_id: str | None = None
    reply_text: str | None = Field(default=None, description="An edited reply as stored (redacted).")
    created_at: str


class FeedbackResponse(StoredCorrection):
    """The first stored correction (a request with head and label stores exactly that one) and all of them."""

    corrections: list[StoredCorrection] = Field(default_factory=list,
                                                description="Every row this request stored, in order.")


class FeedbackPage(BaseModel):
    items: list[StoredCorrection]
    next_after: int | None = Field(description="Pass as ?after= for the next page; null on the last page.")


class Limits(BaseModel):
    max_batch: int
    max_chars: int
    max_body_bytes: int
    request_timeout_s: float


class ModelInfo(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    model_version: str
    schema_name: str
    label_schema: LabelSchema = Field(alias="schema", description="Heads and labels the model predicts.")
    metrics: dict[str, Any] | None = Field(description="Summary of the model's evaluation (metrics.json), if shipped.")
    brands: list[str] | None = Field(description="Brands with a routing policy; null when routing is not loaded.")
    microbatch: bool
    limits: Limits


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    model_version: str

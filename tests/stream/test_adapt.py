"""A triaged post becomes a stream event without its raw text or its author's handle."""

from __future__ import annotations

from datetime import UTC, datetime

from triage.context import IdentityKey
from triage.stream.adapt import event_from_triage
from triage.types import Author, LanguageResult, Post, TriageResult


def test_event_from_triage_keeps_only_redacted_text_and_a_pseudonym() -> None:
    post = Post(text="call me 052-3456789, no internet in Haifa", id="p1", channel="twitter", brand="acme",
                author=Author(handle="@dana"), created_at=datetime(2025, 3, 2, 9, 0, tzinfo=UTC),
                metadata={"shares": 120, "views": 9000.0, "likes": True})
    result = TriageResult(
        post_id="p1", language=LanguageResult(language="en", confidence=1.0, method="script"),
        labels={"intent": "complaint", "sentiment": "negative", "urgency": "critical"}, heads={}, entities=[],
        redacted_text="call me [PHONE], no internet in Haifa", normalised_text="", model_version="t",
        schema_name="default",
    )
    event = event_from_triage(post, result, triggers=("outage",), key=IdentityKey.from_text("adapt-test-key-0123456"))
    assert event.text == "call me [PHONE], no internet in Haifa"
    assert (event.intent, event.sentiment, event.urgency) == ("complaint", "negative", "critical")
    assert event.brand == "acme" and event.post_id == "p1" and event.triggers == ("outage",)
    assert (event.shares, event.views, event.likes) == (120, 9000, None)
    assert event.author is not None and "dana" not in event.author

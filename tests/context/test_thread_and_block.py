"""'Me too' replies, context from the request's thread, the result's context block, phone handles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.context import (
    ContextResult,
    IdentityKey,
    InMemoryContextProvider,
    PriorPost,
    RepostResult,
    context_labels,
    find_me_too,
    gather_context,
    identity_of,
    post_identity,
    thread_context,
    to_triage_context,
)
from triage.prepare import TextStages
from triage.types import Author, Post, ThreadMessage, TriageContext

T0 = datetime(2026, 6, 7, 6, 0, tzinfo=UTC)
KEY = IdentityKey.from_text("unit-test-identity-key-123")


@pytest.fixture(scope="module")
def stages() -> TextStages:
    return TextStages()


@pytest.mark.parametrize(("text", "name"), [
    ("גם אצלי", "he:me-too"),
    ("גם אצלנו!!! כבר שעה", "he:me-too"),
    ("אותה בעיה בדיוק", "he:me-too"),
    ("Same here", "en:me-too"),
    ("me too, since 9am", "en:me-too"),
    ("+1", "plus-one"),
    ("وانا كمان", "ar:me-too"),
    ("نفس المشكلة عندي", "ar:me-too"),
    ("У меня тоже", "ru:me-too"),
])
def test_me_too_in_four_languages(text: str, name: str) -> None:
    assert find_me_too(text) == name


@pytest.mark.parametrize("text", [
    "אין לי אינטרנט מהבוקר",
    "I get the same error every single time I try to log in to the app on my phone",
    "הזמנתי גם לי וגם לבעלי כרטיסים להופעה ועד היום לא קיבלנו אותם במייל",
    "call me on +1 555 0100",
])
def test_not_a_me_too(text: str) -> None:
    assert find_me_too(text) is None


def _parent(**kw: object) -> PriorPost:
    values = dict(post_id="fb-100", brand="acme", channel="facebook", created_at=T0, thread_id="fb-100",
                  customer_key="c-noa", labels={"intent": "complaint", "urgency": "critical"}, queue="crisis",
                  priority="P1", triggers=("outage",))
    values.update(kw)
    return PriorPost(**values)  # type: ignore[arg-type]


def test_a_me_too_reply_takes_its_stored_parents_case(stages: TextStages) -> None:
    provider = InMemoryContextProvider(posts=[_parent()])
    post = Post(text="גם אצלי", id="fb-101", author=Author(handle="yossi"), created_at=T0 + timedelta(minutes=2),
                metadata={"parent_id": "fb-100"})
    found = gather_context(provider, stages.prepare(post), brand="acme", key=KEY)
    assert found.me_too and found.parent_post_id == "fb-100" and found.thread_id == "fb-100"
    assert (found.case_queue, found.case_priority, found.case_triggers) == ("crisis", "P1", ["outage"])
    assert found.case_labels == {"intent": "complaint", "urgency": "critical"} and not found.is_follow_up
    block = to_triage_context(found)
    assert block.me_too and block.case_triggers == ["outage"] and block.parent_post_id == "fb-100"
    # A comment under the post, known only by its thread id, finds the same parent.
    post = post.model_copy(update={"metadata": {"thread_id": "fb-100"}})
    assert gather_context(provider, stages.prepare(post), brand="acme", key=KEY).me_too


def test_a_reply_that_says_more_is_not_a_me_too(stages: TextStages) -> None:
    provider = InMemoryContextProvider(posts=[_parent()])
    post = Post(text="תודה על העדכון, חזר לי האינטרנט", id="fb-102", created_at=T0 + timedelta(hours=3),
                metadata={"parent_id": "fb-100"})
    found = gather_context(provider, stages.prepare(post), brand="acme", key=KEY)
    assert not found.me_too and found.parent_post_id == "fb-100" and found.case_queue is None


def test_the_request_thread_gives_context_without_a_store(stages: TextStages) -> None:
    chase = Post(text="נו???", thread=[ThreadMessage(role="customer", text="האינטרנט לא עובד"),
                                      ThreadMessage(role="brand", text="בודקים"),
                                      ThreadMessage(role="customer", text="עדיין לא עובד")])
    block = thread_context(stages.prepare(chase))
    assert block is not None and block.is_follow_up and block.repeat_count == 2 and block.urgency_floor == "normal"
    me_too = Post(text="Same here", thread=[ThreadMessage(role="customer", text="no internet in Haifa")])
    block = thread_context(stages.prepare(me_too))
    assert block is not None and block.me_too and block.awaiting_brand and not block.is_follow_up
    assert thread_context(stages.prepare(Post(text="hello"))) is None


def test_context_labels_raise_urgency_and_take_a_parents_labels() -> None:
    labels = {"intent": "other", "sentiment": "neutral", "urgency": "low"}
    floor = TriageContext(is_follow_up=True, repeat_count=3, urgency_floor="high")
    assert context_labels(labels, floor, "urgency") == (
        {"intent": "other", "sentiment": "neutral", "urgency": "high"}, ["urgency low → high (contact 3 on the case)"])
    me_too = TriageContext(me_too=True, case_labels={"intent": "complaint", "urgency": "low"})
    out, changes = context_labels({**labels, "urgency": "high"}, me_too, "urgency")
    assert out["intent"] == "complaint" and out["urgency"] == "high"  # never lowered
    assert changes == ["intent other → complaint (the parent's)"]
    assert context_labels(labels, None, "urgency") == (labels, [])


def test_the_block_drops_what_stays_in_the_store() -> None:
    found = ContextResult(customer_key="c1", chase_phrases=["he:nu"], is_follow_up=True, repeat_count=2,
                          case_priority="P9", repost=RepostResult(is_repost=True, same_customer=0,
                                                                  other_customers=3, campaign=True))
    block = to_triage_context(found)
    assert block.repost and block.campaign and block.case_priority is None
    assert "customer_key" not in block.model_dump() and "chase_phrases" not in block.model_dump()


def test_a_whatsapp_handle_is_also_the_customers_phone(stages: TextStages) -> None:
    fb = stages.prepare(Post(text="call me 052-3456789", channel="facebook", author=Author(handle="dana_k")))
    wa = post_identity(KEY, brand="acme", channel="whatsapp", handle="+972 52-345-6789")
    assert set(identity_of(fb, "acme", KEY).of_kind("phone")) == set(wa.of_kind("phone"))
    assert post_identity(KEY, brand="acme", channel="twitter", handle="0523456789").of_kind("phone") == []
    assert post_identity(KEY, brand="acme", channel="whatsapp", handle="dana").of_kind("phone") == []

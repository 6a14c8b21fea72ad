"""Follow-ups, reposts and the urgency floor: pure functions over a history the caller passes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.context import (
    BrandReply,
    ContextConfig,
    CurrentPost,
    IdentityKey,
    InMemoryContextProvider,
    PriorPost,
    detect_follow_up,
    detect_repost,
    find_chase,
    gather_context,
    identity_of,
    raise_to_floor,
    text_key,
)
from triage.prepare import TextStages
from triage.types import Author, Post

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY = IdentityKey.from_text("unit-test-identity-key-123")


def _prior(post_id: str, hours: float, **kw: object) -> PriorPost:
    return PriorPost(post_id=post_id, brand="acme", channel="facebook", created_at=T0 + timedelta(hours=hours),
                     customer_key="c1", **kw)  # type: ignore[arg-type]


def _now(hours: float, **kw: object) -> CurrentPost:
    return CurrentPost(post_id="now", created_at=T0 + timedelta(hours=hours), **kw)  # type: ignore[arg-type]


def test_a_chase_after_two_posts_is_the_third_contact_and_at_least_high() -> None:
    prior = [_prior("a", 0, thread_id="a"), _prior("b", 20, thread_id="b")]
    follow = detect_follow_up(_now(30, thread_id="now"), find_chase("עדיין לא חזרו אליי"), prior)
    assert follow.is_follow_up and follow.repeat_count == 3 and follow.urgency_floor == "high"
    assert follow.linked is not None and follow.linked.post_id == "b" and follow.case_id == "a"
    assert follow.awaiting_brand and any("contact 3" in r for r in follow.reasons)


def test_the_second_contact_gets_the_lower_floor() -> None:
    follow = detect_follow_up(_now(5), find_chase("still waiting"), [_prior("a", 0)])
    assert follow.is_follow_up and follow.repeat_count == 2 and follow.urgency_floor == "normal"


def test_a_chase_without_history_is_a_follow_up_only_when_the_author_counts() -> None:
    assert not detect_follow_up(_now(0), find_chase("still waiting for my parcel"), []).is_follow_up
    stated = detect_follow_up(_now(0), find_chase("פעם שלישית שאני כותב"), [])
    assert stated.is_follow_up and stated.repeat_count == 3 and stated.urgency_floor == "high"
    assert stated.linked is None and not stated.awaiting_brand


def test_a_new_question_in_the_same_thread_is_not_a_follow_up() -> None:
    follow = detect_follow_up(_now(1, thread_id="a"), find_chase("and can I pay with paypal?"),
                              [_prior("a", 0, thread_id="a")])
    assert not follow.is_follow_up and follow.repeat_count == 1 and follow.urgency_floor is None
    assert [p.post_id for p in follow.case] == ["a"]  # the case is known, for the router


def test_resolved_and_old_posts_are_not_chased_but_the_same_order_is() -> None:
    prior = [_prior("done", 0, resolved=True), _prior("old", -24 * 10), _prior("order", -24 * 12,
             case_hashes=frozenset({"h-order"}))]
    follow = detect_follow_up(_now(2, case_hashes=frozenset({"h-order"})), find_chase("any update?"), prior)
    assert [p.post_id for p in follow.case] == ["order"] and follow.repeat_count == 2


def test_repeating_the_same_text_is_a_follow_up_without_a_chase_phrase() -> None:
    text = "my refund for the broken chair never arrived"
    h = text_key(text, KEY)
    follow = detect_follow_up(_now(3, text_hash=h), find_chase(text), [_prior("a", 0, text_hash=h)])
    assert follow.is_follow_up and follow.repeat_count == 2


def test_a_brand_reply_after_the_last_post_means_not_awaiting() -> None:
    reply = BrandReply(thread_id="a", at=T0 + timedelta(hours=1))
    follow = detect_follow_up(_now(5, thread_id="a"), find_chase("still waiting"), [_prior("a", 0, thread_id="a")],
                              reply)
    assert follow.is_follow_up and not follow.awaiting_brand


def test_floors_are_configurable() -> None:
    config = ContextConfig(floors=((2, "critical"),))
    follow = detect_follow_up(_now(1), find_chase("any update?"), [_prior("a", 0)], config=config)
    assert follow.urgency_floor == "critical"


def test_raise_to_floor() -> None:
    assert raise_to_floor("low", "high") == "high"
    assert raise_to_floor("critical", "high") == "critical"
    assert raise_to_floor("normal", None) == "normal"
    assert raise_to_floor("billing", "high") == "billing"  # a label outside the order is left alone


def test_text_keys_fold_case_and_punctuation_and_skip_short_texts() -> None:
    assert text_key("Where is my REFUND?!  ") == text_key("where is my refund") is not None
    assert text_key("where is my refund", KEY) != text_key("where is my refund")
    assert text_key("thanks!") is None and text_key("???") is None


def test_detect_repost_counts_customers() -> None:
    earlier = [_prior("a", 0), PriorPost("b", "acme", "twitter", T0, customer_key="c2"),
               PriorPost("c", "acme", "twitter", T0 - timedelta(hours=1)), PriorPost("d", "acme", "web", T0)]
    result = detect_repost("now", "c1", earlier)
    assert result.is_repost and result.same_customer == 1 and result.other_customers == 3
    assert result.campaign and result.first_post_id == "c"
    assert not detect_repost("now", "c1", [_prior("a", 0)]).campaign


@pytest.fixture(scope="module")
def stages() -> TextStages:
    return TextStages()


def test_gather_context_with_an_in_memory_history(stages: TextStages) -> None:
    first = stages.prepare(Post(text="הזמנה 4471902 לא הגיעה", id="a", author=Author(handle="dana"), created_at=T0))
    identity = identity_of(first, "acme", KEY)
    order = frozenset(identity.case_hashes)
    provider = InMemoryContextProvider(
        posts=[PriorPost("a", "acme", "facebook", T0, thread_id="a", customer_key="c1", case_hashes=order,
                         labels={"intent": "complaint"})],
        replies=[BrandReply(thread_id="a", at=T0 + timedelta(hours=1))],
        links={("acme", h.kind, h.digest): "c1" for h in identity.hashes},
    )
    post = Post(text="נו??? עדיין מחכה", id="b", channel="whatsapp", author=Author(handle="dana"),
                created_at=T0 + timedelta(days=1), metadata={"parent_id": "a"})
    context = gather_context(provider, stages.prepare(post), brand="acme", key=None)
    assert not context.is_follow_up and context.customer_key is None  # no key: nobody is recognised
    post = post.model_copy(update={"channel": "facebook"})
    context = gather_context(provider, stages.prepare(post), brand="acme", key=KEY)
    assert context.customer_key == "c1" and context.thread_id == "a" and context.is_follow_up
    assert context.chase_only and context.repeat_count == 2 and context.linked_post_id == "a"
    assert context.case_labels == {"intent": "complaint"} and not context.awaiting_brand
    assert context.last_brand_reply_at == T0 + timedelta(hours=1)

"""The default brand's policy end to end through the router, and multi-brand dispatch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from triage.errors import InputError
from triage.routing.policy import load_policy
from triage.routing.router import BrandRouter, PolicyRouter
from triage.schema import LabelSchema

from .support import POLICIES, at, route


@pytest.fixture(scope="module")
def router(default_schema: LabelSchema) -> PolicyRouter:
    return PolicyRouter(load_policy(POLICIES / "default.yaml", default_schema))


@pytest.fixture(scope="module")
def northwind(default_schema: LabelSchema) -> PolicyRouter:
    return PolicyRouter(load_policy(POLICIES / "northwind.yaml", default_schema))


TUESDAY = at(2026, 9, 15, 12)


def test_spam_is_hidden_by_moderation_without_a_reply(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "Follow me for free crypto", intent="spam", urgency="low")
    assert (d.queue, d.priority, d.actions, d.rule) == ("moderation", "P4", ["hide"], "spam")
    assert d.reasons[0] == "intent=spam (p=0.90) matched rule 'spam'"
    assert not d.needs_human


def test_abusive_chatter_is_hidden(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "אתם מניאקים", intent="other", sentiment="negative")
    assert (d.queue, d.actions, d.rule) == ("moderation", ["hide"], "abuse")
    assert "keyword 'מניאק'" not in d.reasons[0] and "keyword 'מניאקים'" in d.reasons[0]


def test_a_complaint_is_never_hidden_even_when_abusive(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "מניאקים, שבועיים מחכה לחבילה", intent="complaint", sentiment="negative")
    assert "hide" not in d.actions and d.queue == "care" and d.rule == "complaints"


def test_never_hide_guards_a_rule_that_would_hide(tmp_path, default_schema: LabelSchema) -> None:
    from .support import policy_with_probe, write

    text = policy_with_probe("{keywords_any: [idiots]}", "never_hide: {intent: [complaint]}\n").replace(
        "actions: [reply]}\ndefault", "actions: [hide]}\ndefault"
    )
    r = PolicyRouter(load_policy(write(tmp_path / "acme.yaml", text), default_schema))
    hidden = route(r, default_schema, "idiots", intent="other")
    kept = route(r, default_schema, "idiots, my parcel is late", intent="complaint")
    assert hidden.actions == ["hide"]
    # The protected post is not hidden: it takes the default route and a person checks it, with the reason.
    assert (kept.actions, kept.rule, kept.queue, kept.needs_human) == (["reply"], "default", "care", True)
    assert ("hide withheld: intent=complaint (p=0.90) is never hidden → default route, a person checks"
            in kept.reasons)


def test_churn_goes_to_retention_p2(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "Cancel my subscription now", intent="churn_risk", urgency="high")
    assert (d.queue, d.priority, d.rule) == ("retention", "P2", "churn")
    assert d.reply_mode == "private"      # the author's own account


def test_complaint_with_churn_probability_goes_to_retention(router: PolicyRouter, default_schema: LabelSchema) -> None:
    probs = {"intent": {"complaint": 0.55, "churn_risk": 0.35, "other": 0.10}}
    d = route(router, default_schema, "third month like this", probabilities=probs)
    assert (d.queue, d.rule) == ("retention", "churn-signal")
    assert "P(intent=churn_risk)=0.35 ≥ 0.30" in d.reasons[0]


def test_critical_goes_to_crisis_p1_escalated_and_needs_a_person(router: PolicyRouter,
                                                                  default_schema: LabelSchema) -> None:
    shabbat_night = at(2026, 9, 19, 2)
    d = route(router, default_schema, "מצאתי זכוכית בסלט, עורך דין בדרך", now=shabbat_night, intent="complaint",
              urgency="critical", sentiment="negative")
    assert (d.queue, d.priority, d.rule) == ("crisis", "P1", "crisis")
    assert "escalate" in d.actions and d.needs_human
    assert d.around_the_clock and d.sla_minutes == 15
    assert d.first_response_due == shabbat_night + timedelta(minutes=15)
    assert "urgency critical: 15 min around the clock, due Sat 2026-09-19 02:15" in d.reasons
    assert "urgency=critical → a person checks" in d.reasons
    assert d.reply_mode == "private" and any("legal matter" in r for r in d.reasons)
    assert d.templates == ["crisis-holding-he", "crisis-holding-en", "crisis-holding-ar", "crisis-private-he",
                           "crisis-private-en", "crisis-private-ar"]


@pytest.mark.parametrize(
    ("text", "labels", "queue", "priority", "actions"),
    [
        ("כמה עולה החבילה של הסיבים?", {"intent": "purchase_intent"}, "sales", "P3", ["reply"]),
        ("תודה לנציגה שרית, שירות מדהים!", {"intent": "praise", "urgency": "low"}, "community", "P4",
         ["like", "reply"]),
        ("עד איזו שעה הסניף פתוח?", {"intent": "question"}, "care", "P3", ["reply"]),
        ("הייתם צריכים אפליקציה לאייפד", {"intent": "suggestion", "urgency": "low"}, "community", "P4", ["reply"]),
        ("@דני תראה את זה 😂", {"intent": "other", "urgency": "low"}, "community", "P4", ["none"]),
        ("Charged twice this month. Again.", {"intent": "complaint"}, "billing", "P2", ["reply"]),
        ("Please update my invoice address", {"intent": "request"}, "billing", "P3", ["reply"]),
        ("אין אינטרנט מהבוקר", {"intent": "complaint", "urgency": "high"}, "technical", "P2", ["reply"]),
        ("How do I reset my router?", {"intent": "question"}, "technical", "P3", ["reply"]),
        ("טכנאי לא הגיע", {"intent": "complaint", "urgency": "high"}, "care", "P2", ["reply"]),
        ("תחזרו אליי לגבי ההזמנה", {"intent": "request"}, "care", "P3", ["reply"]),
    ],
)
def test_default_routes(router: PolicyRouter, default_schema: LabelSchema, text: str, labels: dict[str, str],
                        queue: str, priority: str, actions: list[str]) -> None:
    d = route(router, default_schema, text, **labels)
    assert (d.queue, d.priority, d.actions) == (queue, priority, actions)


def test_review_complaints_use_the_channel_condition(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "the delivery was late", channel="review", intent="complaint")
    assert (d.rule, d.priority) == ("review-complaints", "P2")


def test_vip_field_from_post_metadata(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "my delivery is late", intent="complaint", metadata={"vip": True})
    assert (d.rule, d.priority, d.actions) == ("vip", "P2", ["reply", "escalate"])
    assert "vip=True" in d.reasons[0]


def test_invite_links_by_regex(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "join us https://chat.whatsapp.com/AbC123", intent="other")
    assert (d.rule, d.actions) == ("invite-links", ["hide"])


def test_arabic_overflows_to_the_arabic_desk(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "أنتظر الطلبية منذ أسبوعين", intent="complaint")
    assert d.queue == "care_ar" and not d.needs_human
    assert "queue 'care' does not cover language 'ar': sent to 'care_ar'" in d.reasons


def test_russian_has_no_queue_so_a_person_checks(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "Где мой заказ?", intent="question")
    assert d.queue == "care" and d.needs_human
    assert "no queue covers language 'ru'" in d.reasons
    assert "language 'ru' is not covered → a person checks" in d.reasons


def test_uncertain_head_needs_a_person(router: PolicyRouter, default_schema: LabelSchema) -> None:
    low = route(router, default_schema, "hmm", intent="question", confidence=0.40)
    assert low.needs_human
    assert any(r.startswith("intent=question uncertain (p=0.40 < 0.45)") for r in low.reasons)
    close = route(router, default_schema, "hmm",
                  probabilities={"intent": {"question": 0.50, "request": 0.45, "other": 0.05}})
    assert close.needs_human
    assert "intent=question uncertain (top-2 margin 0.05 too small) → a person checks" in close.reasons
    sure = route(router, default_schema, "hmm", intent="question")
    assert not sure.needs_human


def test_personal_data_makes_the_reply_private_with_the_platform_window(router: PolicyRouter,
                                                                       default_schema: LabelSchema) -> None:
    created = at(2026, 9, 15, 10)
    d = route(router, default_schema, "Charged twice. call me 052-3456789", intent="complaint", created_at=created)
    assert d.reply_mode == "private"
    assert "contains phone → private reply (the post holds personal data)" in d.reasons
    assert d.private_reply_due == created + timedelta(hours=168)
    assert any(r.startswith("facebook allows one private reply to a public comment within 168 h") for r in d.reasons)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("order 4471902 is late", "contains order_id → private reply (it concerns the author's own order or account)"),
        ("where is my refund", "keyword 'refund' → private reply (it concerns the author's money)"),
        ("I will sue you", "keyword 'sue' → private reply (it is a legal matter)"),
        ("ההרעלה אחרי הארוחה", "keyword 'הרעלה' → private reply (it is a health matter)"),
    ],
)
def test_private_reply_reasons(router: PolicyRouter, default_schema: LabelSchema, text: str, reason: str) -> None:
    d = route(router, default_schema, text, intent="complaint")
    assert d.reply_mode == "private" and reason in d.reasons


def test_public_reply_when_nothing_private(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "the delivery was late", intent="complaint")
    assert d.reply_mode == "public" and d.private_reply_due is None
    assert "public reply on facebook" in d.reasons


def test_private_channel_and_channel_without_window(router: PolicyRouter, default_schema: LabelSchema) -> None:
    dm = route(router, default_schema, "call me 052-3456789", channel="whatsapp", intent="request")
    assert dm.reply_mode == "private" and dm.private_reply_due is None
    assert "whatsapp is a private channel → private reply" in dm.reasons
    tweet = route(router, default_schema, "call me 052-3456789", channel="twitter", intent="complaint")
    assert tweet.reply_mode == "private" and tweet.private_reply_due is None
    assert any("twitter has no private-reply window" in r for r in tweet.reasons)


def test_sla_rows_by_urgency_and_channel(router: PolicyRouter, default_schema: LabelSchema) -> None:
    fb = route(router, default_schema, "the delivery was late", intent="complaint", urgency="high")
    assert fb.sla_minutes == 30 and fb.first_response_due == TUESDAY + timedelta(minutes=30)
    wa = route(router, default_schema, "the delivery was late", channel="whatsapp", intent="complaint")
    assert wa.sla_minutes == 120
    normal = route(router, default_schema, "the delivery was late", intent="complaint")
    assert normal.sla_minutes == 240 and not normal.around_the_clock


def test_deadline_skips_shabbat_in_the_reasons(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "the delivery was late", now=at(2026, 9, 4, 14), intent="complaint")
    assert d.first_response_due == at(2026, 9, 6, 12, 0)
    assert "clock paused: 2026-09-05 closed (Saturday)" in d.reasons


def test_sla_clock_starts_when_the_post_was_written(router: PolicyRouter, default_schema: LabelSchema) -> None:
    d = route(router, default_schema, "late", intent="complaint", created_at=at(2026, 9, 15, 9), now=TUESDAY)
    assert d.first_response_due == at(2026, 9, 15, 13)


def test_routing_is_deterministic(router: PolicyRouter, default_schema: LabelSchema) -> None:
    a = route(router, default_schema, "Charged twice. 052-3456789", intent="complaint")
    b = route(router, default_schema, "Charged twice. 052-3456789", intent="complaint")
    assert a == b


def test_second_brand_uses_its_own_queues_and_calendar(northwind: PolicyRouter, default_schema: LabelSchema) -> None:
    from zoneinfo import ZoneInfo

    london = at(2026, 9, 15, 12, tz=ZoneInfo("Europe/London"))
    d = route(northwind, default_schema, "Broadband keeps dropping", now=london, intent="complaint")
    assert (d.brand, d.queue, d.rule) == ("northwind", "faults", "faults")
    assert d.first_response_due.tzinfo is not None and str(d.first_response_due.tzinfo) == "Europe/London"
    gold = route(northwind, default_schema, "Still waiting", now=london, intent="complaint",
                 metadata={"customer_tier": "gold"})
    assert gold.queue == "loyalty" and "customer_tier='gold'" in gold.reasons[0]
    hebrew = route(northwind, default_schema, "האינטרנט לא עובד", now=london, intent="complaint")
    assert hebrew.needs_human and "no queue covers language 'he'" in hebrew.reasons
    tweet = route(northwind, default_schema, "awful service", channel="twitter", now=london, intent="complaint")
    # The rule raises the tweet to P2, and northwind's P2 gets the SLA of urgency high (not normal's 240).
    assert (tweet.rule, tweet.priority, tweet.sla_minutes) == ("public-complaints", "P2", 120)


def test_brand_router_dispatches_by_post_brand(router: PolicyRouter, northwind: PolicyRouter,
                                               default_schema: LabelSchema) -> None:
    brands = BrandRouter({"default": router, "northwind": northwind}, "default")
    assert route(brands, default_schema, "late", intent="complaint").brand == "default"
    assert route(brands, default_schema, "late", intent="complaint", brand="northwind").brand == "northwind"
    with pytest.raises(InputError) as err:
        route(brands, default_schema, "late", intent="complaint", brand="acme")
    assert err.value.code == "unknown_brand" and err.value.field == "brand"
    assert "northwind" in str(err.value)
    no_default = BrandRouter({"northwind": northwind}, None)
    with pytest.raises(InputError, match="names no brand"):
        route(no_default, default_schema, "late", intent="complaint")

"""Every rule condition, through a real policy file and the router: what matches, what does not, and the
reason each match gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from triage.routing.policy import load_policy
from triage.routing.router import PolicyRouter
from triage.schema import LabelSchema
from triage.text.keywords import keyword_pattern

from .support import policy_with_probe, route, write


def probe_router(tmp_path: Path, schema: LabelSchema, when: str) -> PolicyRouter:
    path = write(tmp_path / "acme.yaml", policy_with_probe(when))
    return PolicyRouter(load_policy(path, schema))


CASES: list[tuple[str, str, dict[str, Any], bool, str]] = [
    # (when, text, route kwargs, matches?, reason fragment)
    ("{intent: complaint}", "bad", {"intent": "complaint"}, True, "intent=complaint (p=0.90)"),
    ("{intent: [praise, complaint]}", "bad", {"intent": "complaint"}, True, "intent=complaint"),
    ("{intent: complaint}", "hi", {"intent": "praise"}, False, ""),
    ("{sentiment: negative, urgency: [high, critical]}", "x", {"sentiment": "negative", "urgency": "high"}, True,
     "sentiment=negative (p=0.90), urgency=high"),
    ("{sentiment: negative, urgency: [high, critical]}", "x", {"sentiment": "negative"}, False, ""),
    ("{min_confidence: {intent: 0.8}}", "x", {"intent": "question", "confidence": 0.9}, True,
     "intent confidence 0.90 ≥ 0.80"),
    ("{min_confidence: {intent: 0.8}}", "x", {"intent": "question", "confidence": 0.7}, False, ""),
    ("{min_probability: {intent: {churn_risk: 0.3}}}", "x",
     {"probabilities": {"intent": {"complaint": 0.6, "churn_risk": 0.35, "other": 0.05}}}, True,
     "P(intent=churn_risk)=0.35 ≥ 0.30"),
    ("{min_probability: {intent: {churn_risk: 0.3}}}", "x",
     {"probabilities": {"intent": {"complaint": 0.8, "churn_risk": 0.15, "other": 0.05}}}, False, ""),
    ("{language: ar}", "مرحبا", {"lang": "ar"}, True, "language=ar"),
    ("{language: [he, en]}", "مرحبا", {"lang": "ar"}, False, ""),
    ("{channel: [twitter, tiktok]}", "x", {"channel": "twitter"}, True, "channel=twitter"),
    ("{channel: twitter}", "x", {"channel": "facebook"}, False, ""),
    ("{public: false}", "x", {"channel": "whatsapp"}, True, "private channel"),
    ("{public: true}", "x", {"channel": "whatsapp"}, False, ""),
    ("{entities_any: [phone, email]}", "call me 052-3456789", {}, True, "contains phone"),
    ("{entities_any: [card]}", "call me 052-3456789", {}, False, ""),
    # Keywords: whole words, Hebrew prefix letters allowed (up to three), no suffixes, any case/spacing.
    ("{keywords_any: [חיוב]}", "ולחיוב הזה אין הסבר", {}, True, "keyword 'חיוב'"),
    ("{keywords_any: [חיוב]}", "ושכשהחיוב ירד", {}, False, ""),   # four prefix letters
    ("{keywords_any: [חיוב]}", "חיובים כפולים", {}, False, ""),
    ("{keywords_any: [עורך דין]}", "כבר דיברתי עם  עורך\nדין", {}, True, "keyword 'עורך דין'"),
    ("{keywords_any: [charged twice]}", "I was CHARGED   Twice!", {}, True, "keyword 'charged twice'"),
    ("{keywords_any: [charge]}", "my charger broke", {}, False, ""),
    ("{keywords_any: [חיוב]}", "ח\u05b4יּוּב מוזר", {}, True, "keyword"),  # niqqud is normalised away
    (r"{regex_any: ['\b\d{3}-\d{7}\b', 'bit\.ly/']}", "see bit.ly/abc", {}, True, r"pattern 'bit\.ly/'"),
    (r"{regex_any: ['\b\d{3}-\d{7}\b']}", "ref 123-4567890 ok", {}, True, "pattern"),
    (r"{regex_any: ['bit\.ly/']}", "see bitly", {}, False, ""),
    ("{fields: {vip: true}}", "x", {"metadata": {"vip": True}}, True, "vip=True"),
    ("{fields: {vip: true}}", "x", {"metadata": {"vip": 1}}, False, ""),
    ("{fields: {vip: true}}", "x", {"metadata": {"vip": "true"}}, False, ""),
    ("{fields: {vip: true}}", "x", {}, False, ""),
    ("{fields: {tier: [gold, platinum]}}", "x", {"metadata": {"tier": "Gold"}}, True, "tier='Gold'"),
    ("{fields: {spend: 1000}}", "x", {"metadata": {"spend": 1000.0}}, True, "spend=1000.0"),
    ("{}", "anything", {}, True, "matched rule 'probe' (no conditions)"),
    # AND across conditions: both must hold.
    ("{intent: complaint, keywords_any: [refund]}", "where is my refund", {"intent": "complaint"}, True,
     "intent=complaint (p=0.90), keyword 'refund'"),
    ("{intent: complaint, keywords_any: [refund]}", "where is my parcel", {"intent": "complaint"}, False, ""),
]


@pytest.mark.parametrize(("when", "text", "kwargs", "matches", "reason"), CASES)
def test_condition(tmp_path: Path, default_schema: LabelSchema, when: str, text: str, kwargs: dict[str, Any],
                   matches: bool, reason: str) -> None:
    router = probe_router(tmp_path, default_schema, when)
    decision = route(router, default_schema, text, **kwargs)
    assert decision.rule == ("probe" if matches else "default")
    if matches:
        assert reason in decision.reasons[0]
        assert decision.reasons[0].endswith("matched rule 'probe'") or "no conditions" in decision.reasons[0]
    else:
        assert decision.reasons[0] == "no rule matched: default route"


def test_unless_excludes_posts(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = policy_with_probe("{keywords_any: [idiots]}").replace(
        "    then: {queue: mod,", "    unless: {intent: [complaint, request]}\n    then: {queue: mod,"
    )
    router = PolicyRouter(load_policy(write(tmp_path / "acme.yaml", text), default_schema))
    assert route(router, default_schema, "you idiots", intent="other").rule == "probe"
    assert route(router, default_schema, "you idiots, my parcel is late", intent="complaint").rule == "default"


def test_first_matching_rule_wins(tmp_path: Path, default_schema: LabelSchema) -> None:
    text = policy_with_probe("{intent: complaint}").replace(
        "default: {", "  - id: second\n    when: {intent: complaint}\n    then: {queue: care, priority: P1, "
        "actions: [escalate]}\ndefault: {"
    )
    router = PolicyRouter(load_policy(write(tmp_path / "acme.yaml", text), default_schema))
    assert route(router, default_schema, "x", intent="complaint").rule == "probe"


def test_keyword_pattern_allows_up_to_three_hebrew_prefixes() -> None:
    import re

    rx = re.compile(keyword_pattern("הזמנה"))
    assert all(rx.search(w) for w in ["הזמנה", "בהזמנה", "ובהזמנה", "ושבהזמנה"])
    assert not rx.search("ושכשבהזמנה") and not rx.search("הזמנות")
    assert keyword_pattern("refund").startswith("(?<!\\w)refund")  # no prefixes for Latin words

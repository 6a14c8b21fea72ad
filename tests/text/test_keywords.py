"""Keyword matching on real Hebrew phrasings: prefix letters, the construct-state article, abbreviations.

Each row is a keyword as a policy writes it and a sentence as customers write it. The legal rows come from
an incident: the policy's "עורך דין" missed "עורך הדין שלי", so a lawyer's threat was answered in public.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from triage.text.keywords import keyword_pattern
from triage.text.normalise import normalise

ROOT = Path(__file__).resolve().parents[2]


def matches(keyword: str, text: str) -> bool:
    return re.search(keyword_pattern(keyword), normalise(text).text.casefold()) is not None


MATCHES: list[tuple[str, str]] = [
    ("עורך דין", "עורך הדין שלי כבר מכין מכתב"),
    ("עורך דין", "אני הולך לעורך דין מחר"),
    ("עורך דין", "כבר פניתי לעורך הדין שלי"),
    ("עורך דין", "ועורך הדין אמר שאין לכם סיכוי"),
    ("עורך דין", "שלחתי את זה לעורך-דין"),
    ('עו"ד', 'אני מעביר את זה לעו"ד'),
    ('עו"ד', "אני מעביר את זה לעו״ד"),          # gershayim
    ('עו"ד', "דיברתי עם עו''ד"),                 # two apostrophes
    ('עו״ד', 'העו"ד שלי בדרך'),                  # the keyword with gershayim matches the ASCII quote
    ('עוה"ד', "עוה״ד שלי יפנה אליכם"),
    ("הרשות להגנת הצרכן", "הגשתי תלונה לרשות להגנת הצרכן"),
    ("הרשות להגנת הצרכן", "הרשות להגנת הצרכן תשמע על זה"),
    ("הרשות להגנת הצרכן", "אני פונה ברשות להגנת הצרכן"),
    ("הגנת הצרכן", "אתם תשמעו מהגנת הצרכן"),
    ("הגנת הצרכן", "פניתי לרשות להגנת הצרכן"),
    ("בית משפט", "נתראה בבית המשפט"),
    ("בית משפט", "נתראה בבית משפט"),
    ("בית המשפט", "נתראה בבית משפט לתביעות קטנות"),
    ('ביהמ"ש', "ניפגש בביהמ״ש"),
    ("תביעה ייצוגית", "מצטרף לתביעה הייצוגית נגדכם"),
    ("תביעה ייצוגית", "הגשנו תביעה ייצוגית"),
    ("תביעה", "התביעה כבר בדרך"),
    ("תביעה", "אני מגיש תביעה"),
    ("תביעות קטנות", "נפגש בתביעות קטנות"),
    ("לתבוע", "אני הולך לתבוע אתכם"),
    ("משטרה", "הגשתי תלונה במשטרה"),
    ("משטרה", "אני פונה למשטרה"),
    ("חיוב", "ולחיוב הזה אין הסבר"),
    ("צ'יפס", "הצ׳יפס היה קר"),
    ("refund", "Where is my REFUND?"),
]

MISSES: list[tuple[str, str]] = [
    ("עורך דין", "עורכי דין"),                   # plural: list it
    ("תביעה", "תביעות"),                         # suffixes are never added
    ("חיוב", "ושכשהחיוב ירד"),                   # five prefix letters
    ("הזמנה", "בזמנה"),                          # a single word keeps its ה
    ('עו"ד', "עוד פעם"),                         # the quote is required
    ("refund", "refunded"),
    ("בית משפט", "ביתמשפט"),
]


@pytest.mark.parametrize(("keyword", "text"), MATCHES)
def test_keyword_matches_real_phrasing(keyword: str, text: str) -> None:
    assert matches(keyword, text), (keyword, text, keyword_pattern(keyword))


@pytest.mark.parametrize(("keyword", "text"), MISSES)
def test_keyword_does_not_overmatch(keyword: str, text: str) -> None:
    assert not matches(keyword, text), (keyword, text)


LEGAL_PHRASINGS = [
    "עורך הדין שלי יצור איתכם קשר",
    "לעורך דין",
    'עו"ד',
    "עו״ד",
    'עוה"ד שלי',
    "עוה״ד",
    "הרשות להגנת הצרכן",
    "לרשות להגנת הצרכן",
    "בית המשפט",
    "בבית משפט",
    'ביהמ"ש',
    "ביהמ״ש",
    "תביעה ייצוגית",
    "התביעה",
    "תביעות",
    "אני אתבע אתכם",
    "עורכי הדין שלי",
    "אני תובע אתכם",
]


@pytest.mark.parametrize("text", LEGAL_PHRASINGS)
def test_default_policy_legal_keywords_cover_real_phrasings(text: str) -> None:
    """The shipped policy's legal list (private reply) catches each phrasing."""
    import yaml

    policy = yaml.safe_load((ROOT / "data" / "policies" / "default.yaml").read_text(encoding="utf-8"))
    legal = next(p for p in policy["private_when"] if p["id"] == "legal")["when"]["keywords_any"]
    assert any(matches(k, text) for k in legal), text


def test_shipped_policies_list_the_abbreviations() -> None:
    text = (ROOT / "data" / "policies" / "default.yaml").read_text(encoding="utf-8")
    for form in ('עו"ד', "עו״ד", 'ביהמ"ש', "ביהמ״ש", 'עוה"ד'):
        assert form in text, form

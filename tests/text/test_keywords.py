"""Keyword matching on real Hebrew phrasings: prefix letters, the construct-state article, abbreviations.

Each row is a keyword as a policy writes it and a sentence as customers write it. The legal rows come from
an incident: the policy's "עורך דין" missed "עורך הדין שלי", so a lawyer's threat was answered in public.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from triage.text.keywords import KeywordSet, keyword_anchor, keyword_pattern
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


def _shipped_keywords() -> list[str]:
    """Every keyword the shipped policies and reply libraries list (``keywords_any``, any depth)."""
    import yaml

    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "keywords_any" and isinstance(value, list):
                    found.extend(str(v) for v in value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in [*(ROOT / "data" / "policies").glob("*.yaml"), *(ROOT / "data" / "replies").rglob("*.yaml")]:
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return sorted(set(found))


def test_keyword_anchor_is_in_every_match_and_set_search_equals_the_regex() -> None:
    # The anchor prefilter may only skip texts the regex cannot match: for every shipped keyword, texts
    # built around it (prefixes, the article, other quote spellings, hyphens) must give the same match.
    keywords = _shipped_keywords() + [k for k, _ in MATCHES] + ["''", '"']
    assert len(keywords) > 50
    texts = [t for _, t in MATCHES] + [t for _, t in MISSES] + ["", "x", "שלום"]
    for k in keywords:
        folded = normalise(k).text.casefold()
        texts += [f"אני {folded} עכשיו", f"ול{folded}", f"ה{folded}!", folded.replace(" ", "-"),
                  folded.replace('"', "״").replace("'", "׳"), folded.replace('"', "''"), folded[1:], folded[:-1]]
    for k in keywords:
        rx = re.compile(keyword_pattern(k))
        anchor = keyword_anchor(k)
        one = KeywordSet([k])
        for t in texts:
            folded = normalise(t).text.casefold()
            expected = rx.search(folded)
            got = one.search(folded)
            assert (got.span() if got else None) == (expected.span() if expected else None), (k, t)
            if expected is not None:
                assert anchor in expected.group(0), (k, anchor, t)
    everything = KeywordSet(keywords)
    plain = re.compile("|".join(f"(?P<k{i}>{keyword_pattern(k)})" for i, k in enumerate(keywords)))
    for t in texts:
        folded = normalise(t).text.casefold()
        got, expected = everything.find(folded), plain.search(folded)
        got_at = (got[1].span(), got[0]) if got else None
        expected_at = (expected.span(), keywords[int(str(expected.lastgroup)[1:])]) if expected else None
        assert got_at == expected_at, t
    assert keyword_anchor("עורך הדין") == "עורך" and keyword_anchor('עו"ד') == "עו"
    assert keyword_anchor("''") == ""  # no letters to anchor on: that keyword's regex always runs

from __future__ import annotations

import pytest

from triage.text.language import LanguageIdentifier


@pytest.fixture(scope="module")
def ident() -> LanguageIdentifier:
    return LanguageIdentifier()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("שבועיים מחכה לחבילה ואף אחד לא עונה", "he"),
        ("תכלס השירות שלכם חבל\"ז", "he"),
        ("Charged twice this month. Again.", "en"),
        ("lol same", "en"),
        ("pls dm me asap", "en"),
        ("وين طلبيتي؟ صار لي أسبوع بستنى", "ar"),
        ("Где мой заказ? Жду уже две недели", "ru"),
        ("the app קורס כל פעם שאני נכנס", "he"),
        ("my order from yesterday never arrived, תודה", "en"),
        ("😡😡😡", "other"),
        ("12345 !!!", "other"),
        ("Bonjour, où est ma commande? Merci beaucoup", "other"),
        ("Дякую, все дуже добре працює", "other"),
    ],
)
def test_languages(ident: LanguageIdentifier, text: str, expected: str) -> None:
    assert ident.identify(text).language == expected


def test_reports_script_shares_and_method(ident: LanguageIdentifier) -> None:
    result = ident.identify("ההזמנה שלי delayed")
    assert result.language == "he"
    assert set(result.scripts) == {"hebrew", "latin"}
    assert abs(sum(result.scripts.values()) - 1.0) < 1e-3
    assert ident.identify("🙏").method == "no-letters"


def test_agrees_with_the_corpus_labels(ident: LanguageIdentifier) -> None:
    """The corpus labels (written by people, dominant language for mixed posts) are the reference."""
    import json
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[2] / "data" / "corpus"
    rows = [json.loads(line) for split in ("dev", "test") for line in (
        corpus / f"{split}.jsonl").open(encoding="utf-8")]
    agree = sum(ident.identify(r["text"]).language == r["language"] for r in rows)
    assert agree / len(rows) >= 0.98


def test_script_shares_count_letters_by_script_in_order_of_share_then_first_letter() -> None:
    from triage.text.language import script_shares

    # A tie (3 Hebrew, 3 Latin letters) keeps the order the scripts first appear in; U+2C60 (a Latin letter
    # outside the Latin ranges) is named latin through its Unicode name and counted with them.
    shares, words = script_shares("abc שלו")
    assert list(shares) == ["latin", "hebrew"] and shares == {"latin": 0.5, "hebrew": 0.5}
    assert words == {"latin": 1, "hebrew": 1}
    shares, words = script_shares("שלום \u2c60x ок 123")
    assert shares == {"hebrew": 0.5, "latin": 0.25, "cyrillic": 0.25}
    assert words == {"hebrew": 1, "latin": 1, "cyrillic": 1}
    assert script_shares("123 !!") == ({}, {})

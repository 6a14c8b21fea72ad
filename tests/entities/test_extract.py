from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.entities import EntityExtractor
from triage.entities.validators import card_valid, israeli_id_valid, luhn_valid
from triage.text.normalise import normalise
from triage.types import REDACTED_TYPES


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor()


def found(extractor: EntityExtractor, text: str, language: str = "he") -> list[tuple[str, str]]:
    result = extractor.extract(normalise(text), language)
    for e in result.entities:
        assert text[e.start : e.end] == e.text
    return [(e.type, e.text) for e in result.entities]


def test_validators() -> None:
    assert israeli_id_valid("123456782") and not israeli_id_valid("123456789")
    assert israeli_id_valid("18") is False  # too short to be an ID at all
    assert israeli_id_valid("000000018") and not israeli_id_valid("000000000")
    assert luhn_valid("4580458045804580") and card_valid("4580458045804580")
    assert not card_valid("4580458045804581") and not card_valid("1111111111111111")


def test_hebrew_post_with_phone_id_and_order_has_exact_offsets(extractor: EntityExtractor) -> None:
    text = "היי, מספר הזמנה 4471902 ועדיין כלום!! הטלפון שלי 052-3456789 ות.ז 123456782 תחזרו אליי"
    result = extractor.extract(normalise(text), "he")
    spans = {(e.type, e.start, e.end) for e in result.entities}
    assert spans == {
        ("order_id", text.index("4471902"), text.index("4471902") + 7),
        ("phone", text.index("052"), text.index("052") + 11),
        ("il_id", text.index("123456782"), text.index("123456782") + 9),
    }
    assert result.redacted_text == "היי, מספר הזמנה 4471902 ועדיין כלום!! הטלפון שלי [PHONE] ות.ז [IL_ID] תחזרו אליי"


def test_offsets_survive_normalisation_changes(extractor: EntityExtractor) -> None:
    text = "\u202bשָׁלוֹם!!!!!!\u202c  הזמנה ４４７１９０２ טל׳ 054\u200f-1234567"
    result = extractor.extract(normalise(text), "he")
    by_type = {e.type: e for e in result.entities}
    assert by_type["order_id"].text == "４４７１９０２" and by_type["order_id"].value == "4471902"
    assert by_type["phone"].text == "054\u200f-1234567"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("להזמנה 88213 אין עדכון", [("order_id", "88213")]),
        ("בהזמנה #A-99812 חסר פריט", [("order_id", "A-99812")]),
        ("ומספר הלקוח שלי הוא 883311", [("order_id", "883311")]),
        ("אסמכתא 55120", [("order_id", "55120")]),
        ("מספר משלוח RR123456789IL", [("order_id", "RR123456789IL")]),
        ("תתקשרו ל0541234567 בבקשה", [("phone", "0541234567")]),
        ("במייל dana.k@walla.co.il", [("email", "dana.k@walla.co.il")]),
        ("ת\"ז 12345678-2", [("il_id", "12345678-2")]),
    ],
)
def test_hebrew_prefix_letters_do_not_hide_matches(extractor: EntityExtractor, text: str, expected: list) -> None:
    assert found(extractor, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order number is #A99812, call me +1 (415) 555-0134", [("order_id", "A99812"),
                                                                ("phone", "+1 (415) 555-0134")]),
        ("case 01234567 ref 55120", [("order_id", "01234567"), ("order_id", "55120")]),
        ("charged on 4580 4580 4580 4580 twice", [("card", "4580 4580 4580 4580")]),
        ("card 4580 4580 4580 4581 (typo)", []),
        ("see https://bit.ly/x?p=0541234567 now", [("url", "https://bit.ly/x?p=0541234567")]),
        ("@SkyNetTel help, mail support@skynet.com", [("mention", "@SkyNetTel"), ("email", "support@skynet.com")]),
        ("UK +44 7700 900123 or +972 54-123-4567", [("phone", "+44 7700 900123"), ("phone", "+972 54-123-4567")]),
        ("flight LY315, plate 12-345-67, batch 4471902", []),
        ("order 123456782 is late", [("order_id", "123456782")]),
        ("my id is 123456789", []),
    ],
)
def test_english_and_negative_cases(extractor: EntityExtractor, text: str, expected: list) -> None:
    assert found(extractor, text, "en") == expected


def test_arabic_and_russian_context_words(extractor: EntityExtractor) -> None:
    assert found(extractor, "мой заказ 4471902 не пришёл, телефон +972 54-123-4567", "ru") == [
        ("order_id", "4471902"),
        ("phone", "+972 54-123-4567"),
    ]
    assert found(extractor, "رقم الطلب 4471902 لم يصل", "ar") == [("order_id", "4471902")]


def test_mentions_in_hebrew(extractor: EntityExtractor) -> None:
    assert found(extractor, "@דני תראה את זה 😂") == [("mention", "@דני")]


PII_VALUES = st.sampled_from(["052-3456789", "0541234567", "dana@x.co.il", "123456782", "4580 4580 4580 4580",
                              "+44 7700 900123"])
FILLER = st.text(alphabet="אבגדה abc,.!?\u200f\u05b8😂 ", max_size=15)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(FILLER, PII_VALUES), min_size=1, max_size=4), FILLER)
def test_property_no_pii_value_survives_redaction(pairs: list, tail: str) -> None:
    extractor = _shared_extractor()
    text = "".join(f"{f} {v} " for f, v in pairs) + tail
    result = extractor.extract(normalise(text), "he")
    for e in result.entities:
        assert text[e.start : e.end] == e.text
    for _, value in pairs:
        assert value not in result.redacted_text
    for placeholder in REDACTED_TYPES.values():
        assert placeholder in result.redacted_text or all(e.type != k for e in result.entities for k in [placeholder])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_property_never_crashes_and_offsets_map_back(text: str) -> None:
    result = _shared_extractor().extract(normalise(text), "other")
    for e in result.entities:
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end] == e.text


_EXTRACTOR: list[EntityExtractor] = []


def _shared_extractor() -> EntityExtractor:
    if not _EXTRACTOR:
        _EXTRACTOR.append(EntityExtractor())
    return _EXTRACTOR[0]

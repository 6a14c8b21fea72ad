from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from triage.text.normalise import normalise


def _origin(norm, i):
    return norm.original[norm.starts[i] : norm.ends[i]]


def test_strips_niqqud_and_cantillation_but_keeps_letters() -> None:
    assert normalise("שָׁלוֹם עֲלֵיכֶם").text == "שלום עליכם"
    assert normalise("בְּרֵאשִׁ֖ית").text == "בראשית"


def test_keeps_maqaf_and_geresh() -> None:
    assert normalise("בית־ספר צ׳יפס").text == "בית־ספר צ׳יפס"


def test_removes_bidi_and_zero_width_controls() -> None:
    text = "\u202bשלום\u202c \u200fעולם\u200b\ufeff"
    assert normalise(text).text == "שלום עולם"


def test_collapses_floods_but_not_digits() -> None:
    assert normalise("מה!!!!!!! חחחחחחח").text == "מה!!! חחח"
    assert normalise("sooooo goooood").text == "sooo goood"
    assert normalise("order 1000000").text == "order 1000000"


def test_nfkc_folds_compatibility_forms() -> None:
    assert normalise("ＡＢＣ１２３ ﬁle").text == "ABC123 file"
    # Hebrew presentation forms fold to plain letters without their points.
    assert normalise("\ufb2e\ufb4b").text == "או"


def test_keeps_emojis_and_zwj_sequences() -> None:
    family = "👨\u200d👩\u200d👧"
    assert normalise(f"תודה {family} 🙏🏽❤️").text == f"תודה {family} 🙏🏽❤️"
    assert normalise("a\u200db").text == "ab"


def test_collapses_whitespace_and_trims() -> None:
    assert normalise("  hi \n\n there\t ").text == "hi there"


def test_offsets_point_back_to_the_original() -> None:
    original = "\u200fמחכה!!!!!! ל-ＨＴＴＰ"
    norm = normalise(original)
    assert norm.text == "מחכה!!! ל-HTTP"
    h = norm.text.index("H")
    assert _origin(norm, h) == "Ｈ"
    last_bang = norm.text.rindex("!")
    assert _origin(norm, last_bang) == "!!!!"
    assert norm.to_original(0, 4) == (1, 5)


def test_empty_and_invisible_only_texts_give_empty_results() -> None:
    assert normalise("").text == ""
    assert normalise("\u200f\u200b  ").text == ""


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_property_offsets_are_monotonic_and_in_bounds(text: str) -> None:
    norm = normalise(text)
    assert len(norm.starts) == len(norm.ends) == len(norm.text)
    for i in range(len(norm.text)):
        assert 0 <= norm.starts[i] < norm.ends[i] <= len(text)
        if i:
            assert norm.starts[i] >= norm.starts[i - 1]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="אבגדהוזחטיכלמנסעפצקרשת0123456789abc !?.-\u05b0\u05b8\u200f\u202b😂", max_size=60))
def test_property_every_kept_character_comes_from_its_span(text: str) -> None:
    norm = normalise(text)
    for i, ch in enumerate(norm.text):
        source = text[norm.starts[i] : norm.ends[i]]
        assert ch == " " or ch in source, (ch, source)
    assert normalise(norm.text).text == norm.text  # idempotent


def _as_tuple(n: object) -> tuple[object, ...]:
    return (n.text, n.starts, n.ends, n.changes)  # type: ignore[attr-defined]


# The fast path (a text normalise would not change) must give exactly what the character loop gives. Every code
# point of these blocks, alone, between letters and flooded (the whole of Unicode passed once, and all 24,837
# he-bank-app-reviews texts, 95% of them on the fast path).
_BLOCKS = [(0x0000, 0x3100), (0xFB00, 0xFFFF), (0x1F000, 0x1FAFF), (0xE0000, 0xE0080)]


def test_the_fast_path_equals_the_character_loop_on_every_code_point_of_the_busy_blocks() -> None:
    from triage.text.normalise import _normalise_by_character

    for lo, hi in _BLOCKS:
        for cp in range(lo, hi):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            c = chr(cp)
            for text in (f"a{c}b", c, c * 4, f"ש{c}"):
                assert _as_tuple(normalise(text)) == _as_tuple(_normalise_by_character(text)), hex(cp)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_property_the_fast_path_equals_the_character_loop(text: str) -> None:
    from triage.text.normalise import _normalise_by_character

    assert _as_tuple(normalise(text)) == _as_tuple(_normalise_by_character(text))


def test_a_zero_width_joiner_at_either_end_is_dropped_not_a_crash() -> None:
    # It raised TypeError (ord of the empty neighbour) before: a post starting with a ZWJ failed to triage.
    assert normalise("\u200dשלום").text == "שלום"
    assert normalise("hi\u200d").text == "hi"
    assert normalise("\u200d").text == ""

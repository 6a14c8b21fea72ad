"""Template text: placeholders, optional clauses, and never a raw marker in the output."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.replies.placeholders import parse_text, render, tidy


def fill(text: str, values: dict[str, str], fallback: dict[str, str] | None = None) -> tuple[str, list[str]]:
    parsed, errors = parse_text(text)
    assert errors == []
    return render(parsed, lambda n: values.get(n), fallback or {})


def test_placeholders_are_filled() -> None:
    assert fill("Hi {first_name}, order {order_id}.", {"first_name": "Dana", "order_id": "123"}) == (
        "Hi Dana, order 123.", [])


def test_optional_clause_is_dropped_when_a_value_is_missing() -> None:
    assert fill("שלום[[ {first_name}]], מה נשמע?", {}) == ("שלום, מה נשמע?", ["first_name"])
    assert fill("Thanks[[, {first_name}]]!", {}) == ("Thanks!", ["first_name"])
    assert fill("Thanks[[, {first_name}]]!", {"first_name": "Dan"}) == ("Thanks, Dan!", [])
    assert fill("We're on it[[ (order {order_id})]].", {}) == ("We're on it.", ["order_id"])


def test_required_placeholder_uses_the_fallback_and_is_reported() -> None:
    assert fill("We'll reply {eta}.", {}, {"eta": "as soon as possible"}) == (
        "We'll reply as soon as possible.", ["eta"])


def test_parse_reports_names_and_syntax_errors() -> None:
    parsed, errors = parse_text("Hi[[ {first_name}]], order {order_id}, {eta}")
    assert errors == [] and parsed.required == ["order_id", "eta"] and parsed.optional == ["first_name"]
    for bad, words in [
        ("Hi {First Name}", "stray brace"),
        ("Hi {name", "stray brace"),
        ("Hi [name], thanks", "'[name]'-style marker"),
        ("Hi [[{first_name}", "unbalanced"),
        ("Hi [[ there ]]", "has no placeholder"),
    ]:
        assert any(words in e for e in parse_text(bad)[1]), bad


def test_tidy_cleans_what_a_dropped_clause_leaves() -> None:
    assert tidy("Hello ,  world .") == "Hello, world."
    assert tidy("Thanks, !") == "Thanks!"
    assert tidy("  a  b  ") == "a b"


@given(
    first=st.one_of(st.none(), st.text(alphabet="דנהabc", min_size=1, max_size=8)),
    order=st.one_of(st.none(), st.from_regex(r"[0-9]{5,8}", fullmatch=True)),
)
def test_output_never_holds_a_raw_marker(first: str | None, order: str | None) -> None:
    text = "שלום[[ {first_name}]], ההזמנה[[ {order_id}]] בטיפול; {eta}."
    values = {k: v for k, v in {"first_name": first, "order_id": order}.items() if v}
    out, missing = fill(text, values, {"eta": "נחזור בהקדם"})
    assert not any(m in out for m in ("{", "}", "[[", "]]", "["))
    assert "eta" in missing and ("first_name" in missing) == (first is None)


@pytest.mark.parametrize("text", ["{a}{b}", "[[{a}]][[{b}]]", "x [[y {a} z]] w"])
def test_all_missing_leaves_readable_text(text: str) -> None:
    out, missing = fill(text, {}, {"a": "A", "b": "B"})
    assert "{" not in out and "[[" not in out and set(missing) <= {"a", "b"}

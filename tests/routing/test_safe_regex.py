"""Policy regexes cannot stall a worker: backtracking shapes are refused at load, matching is bounded."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.errors import ConfigError
from triage.routing.conditions import MatchContext
from triage.routing.policy import load_policy
from triage.routing.safe_regex import bounded_search, regex_problems
from triage.schema import LabelSchema

from .support import policy_with_probe, write

UNSAFE = [
    r"(a+)+$",
    r"(a*)*b",
    r"^(\d+)*$",
    r"(\w+\s?)*$",
    r"(x+x+)+y",
    r"(a|aa)*c",
    r"(x|y|xy)+z",
    r".*a.*b",
    r"\w+\s*\w+",
    r"(a|b)\1",
    r"(?P<x>a)(?P=x)",
]
SAFE = [
    r"chat\.whatsapp\.com/",
    r"(?<![\w.])t\.me/",
    r"bit\.ly/",
    r"\b\d{3}-\d{7}\b",
    r"https?://\S+",
    r"refund.*card",
    r"\d+-\d+",
    r"(foo|bar)+",
    r"(a|ab)*c",
    r"(?:a++)+",
    r"(a{1,3}){1,3}",
    r"[a-z]+@[a-z]+\.com",
]


@pytest.mark.parametrize("pattern", UNSAFE)
def test_backtracking_shapes_are_refused(pattern: str) -> None:
    assert regex_problems(pattern), pattern


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_are_allowed(pattern: str) -> None:
    assert regex_problems(pattern) == [], pattern


def test_policy_with_a_catastrophic_regex_is_refused_with_its_line(tmp_path: Path,
                                                                   default_schema: LabelSchema) -> None:
    text = policy_with_probe("{regex_any: ['ok\\.com', '(a+)+$']}")
    with pytest.raises(ConfigError) as err:
        load_policy(write(tmp_path / "acme.yaml", text), default_schema)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "(a+)+$" in row)
    assert re.search(rf"acme\.yaml:{line}: rules\[0\]\.when\.regex_any\[1\]: unsafe regular expression "
                     r"'\(a\+\)\+\$': a quantifier inside a repeated group", str(err.value)), str(err.value)


def test_an_allowed_quadratic_regex_stays_fast_on_a_long_post(tmp_path: Path, default_schema: LabelSchema) -> None:
    # \d+x is quadratic for re.search on a run of digits (a quarter of a second on 5,000 digits here);
    # windowed matching keeps it to a few small searches.
    policy = load_policy(write(tmp_path / "acme.yaml", policy_with_probe(r"{regex_any: ['\d+x']}")), default_schema)
    condition = policy.rules[0].when
    ctx = MatchContext(text="1" * 5000, language="other", channel="facebook", is_public=True,
                       entity_types=frozenset(), labels={}, probabilities={}, confidences={}, fields={})
    start = time.perf_counter()
    assert condition.match(ctx) is None
    bounded = time.perf_counter() - start
    start = time.perf_counter()
    assert re.compile(r"\d+x").search(ctx.text) is None
    plain = time.perf_counter() - start
    assert bounded < plain / 3, (bounded, plain)        # both measured now, so machine load cancels out
    assert condition.match(replace(ctx, text="1" * 4000 + "x")) == ["pattern '\\d+x'"]


PATTERNS = [r"abc", r"abc$", r"^abc", r"\bab\b", r"a.{0,3}c", r"(?<![\w.])t\.me/", r"\d{3}-\d{4}", r"x+y", r"b\s+c"]


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    chunks=st.lists(st.sampled_from(["a", "b", "c", "x", "y", " ", ".", "t.me/", "abc", "123-4567", "\n"]),
                    max_size=600),
)
def test_bounded_search_finds_what_search_finds(pattern: str, chunks: list[str]) -> None:
    text = "".join(chunks)
    rx = re.compile(pattern)
    assert (bounded_search(rx, text) is not None) == (rx.search(text) is not None)

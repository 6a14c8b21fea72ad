"""Policy regular expressions that cannot stall a worker: a static check at load, bounded matching at run time.

Python's ``re`` backtracks. ``(a+)+$`` takes exponential time on "aaaa…!", and ``.*a.*b`` takes cubic time
(15 s on a 2,000-character post on the project machine). A policy regex runs on every post, so a brand's
typo could stall every worker. Two defences:

1. ``regex_problems`` refuses, when the policy loads, the shapes that backtrack badly: nested quantifiers
   (``(a+)+``, ``(\\w+\\s?)*``), a repeated alternation whose alternatives can start alike (``(a|ab)*``),
   backreferences, and two unbounded quantifiers over overlapping characters with nothing distinct between
   them (``.*a.*b``, ``\\w+\\s*\\w+``). Possessive quantifiers and atomic groups never backtrack and are
   allowed. What is left matches in at most quadratic time in the text length.
2. ``bounded_search`` runs a pattern over windows of ``WINDOW`` characters overlapping by ``OVERLAP``, so a
   quadratic pattern costs O(WINDOW) per character, not O(length) — a 5,000-character post costs a dozen
   small searches. A match longer than ``OVERLAP`` characters that straddles a window edge can be missed in
   a post longer than ``WINDOW``; policy patterns (links, codes) are far shorter.

The parser is CPython's own (``re._parser``), so the check sees exactly what ``re`` will run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# CPython's own regex parser (private, but the same code ``re.compile`` runs; Python 3.11+).
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _p  # type: ignore[attr-defined]
from typing import Any

WINDOW = 500
OVERLAP = 100

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT}
_POSSESSIVE_REPEAT = getattr(_c, "POSSESSIVE_REPEAT", None)
_ATOMIC_GROUP = getattr(_c, "ATOMIC_GROUP", None)
_UNBOUNDED = _c.MAXREPEAT
# Characters that stand for "what a post may contain" when comparing what two pattern parts can match.
_SAMPLE = (
    "".join(chr(i) for i in range(32, 127))
    + "\t\n\u00a0"
    + "אבגדהוזחטיכלמנסעפצקרשתםןףךץ"
    + "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    + "абвгдежзийклмнопрстуфхцчшщъыьэюя"
    + "АБВЕКМНОРСТХ٠١٢٣😀״׳"
)
_CATEGORY_RE = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
}


def _category(cat: Any, ch: str) -> bool:
    rx = _CATEGORY_RE.get(str(cat))
    return bool(rx and re.fullmatch(rx, ch))


def _in_set(items: list[tuple[Any, Any]], ch: str) -> bool:
    negate = any(op == _c.NEGATE for op, _ in items)
    hit = False
    for op, av in items:
        if op == _c.LITERAL:
            hit = hit or chr(av).casefold() == ch.casefold()
        elif op == _c.RANGE:
            lo, hi = av
            hit = hit or lo <= ord(ch) <= hi or lo <= ord(ch.casefold()[0]) <= hi
        elif op == _c.CATEGORY:
            hit = hit or _category(av, ch)
    return hit != negate


def _chars(items: Iterable[tuple[Any, Any]]) -> frozenset[str]:
    """Sample characters that some part of ``items`` can consume (an over-approximation)."""
    out: set[str] = set()
    for op, av in items:
        if op == _c.LITERAL:
            out |= {ch for ch in _SAMPLE if ch.casefold() == chr(av).casefold()} or {chr(av)}
        elif op == _c.NOT_LITERAL:
            out |= {ch for ch in _SAMPLE if ch.casefold() != chr(av).casefold()}
        elif op == _c.ANY:
            out |= set(_SAMPLE) - {"\n"}
        elif op == _c.IN:
            out |= {ch for ch in _SAMPLE if _in_set(av, ch)}
        elif op in _REPEATS or op == _POSSESSIVE_REPEAT:
            out |= _chars(av[2])
        elif op == _c.SUBPATTERN:
            out |= _chars(av[3])
        elif op == _c.BRANCH:
            for alt in av[1]:
                out |= _chars(alt)
        elif op == _ATOMIC_GROUP:
            out |= _chars(av)
    return frozenset(out)


def _first_chars(items: list[tuple[Any, Any]]) -> frozenset[str]:
    """Characters a match of ``items`` can start with (over-approximated through optional parts)."""
    out: set[str] = set()
    for item in items:
        out |= _chars([item]) if item[0] not in (_c.SUBPATTERN, _c.BRANCH) else _group_first(item)
        if _min_width(item) > 0:
            break
    return frozenset(out)


def _group_first(item: tuple[Any, Any]) -> frozenset[str]:
    op, av = item
    if op == _c.SUBPATTERN:
        return _first_chars(list(av[3]))
    return frozenset().union(*(_first_chars(list(alt)) for alt in av[1]))


def _min_width(item: tuple[Any, Any]) -> int:
    op, av = item
    if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
        return 0
    if op in _REPEATS or op == _POSSESSIVE_REPEAT:
        return av[0] * sum(_min_width(i) for i in av[2])
    if op == _c.SUBPATTERN:
        return sum(_min_width(i) for i in av[3])
    if op == _c.BRANCH:
        return min(sum(_min_width(i) for i in alt) for alt in av[1])
    return 1


def _contains_repeat(items: Iterable[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op in _REPEATS and av[1] > 1:
            return True
        if op == _c.SUBPATTERN and _contains_repeat(av[3]):
            return True
        if op == _c.BRANCH and any(_contains_repeat(alt) for alt in av[1]):
            return True
    return False


def _flatten(items: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    # Groups in a sequence are transparent for the "two quantifiers in a row" check: (\w+)\s*(\w+).
    out: list[tuple[Any, Any]] = []
    for op, av in items:
        if op == _c.SUBPATTERN:
            out.extend(_flatten(av[3]))
        else:
            out.append((op, av))
    return out


def _ambiguous_branch(alternatives: list[list[tuple[Any, Any]]], body: list[tuple[Any, Any]]) -> bool:
    # The parser factors common prefixes ((a|aa)* becomes a(|a)*), so an empty alternative counts too: it
    # lets one repetition stop where the next one could start with the same character.
    firsts = [_first_chars(list(alt)) for alt in alternatives]
    if any(a & b for i, a in enumerate(firsts) for b in firsts[i + 1 :]):
        return True
    if any(sum(_min_width(i) for i in alt) == 0 for alt in alternatives):
        starts = _first_chars(list(body))
        return any(f & starts for f in firsts)
    return False


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def sequence(self, items: Iterable[tuple[Any, Any]]) -> None:
        items = list(items)
        self._adjacent_unbounded(_flatten(items))
        for op, av in items:
            self.item(op, av)

    def item(self, op: Any, av: Any) -> None:
        if op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
            self.add("backreferences (\\1, (?P=name), (?(1)...)) can take exponential time and are not allowed")
        elif op in _REPEATS:
            _lo, hi, body = av
            if hi > 1 and _contains_repeat(body) and (hi == _UNBOUNDED or _has_unbounded(body)):
                self.add("a quantifier inside a repeated group (like (a+)+ or (\\w+\\s?)*) can take exponential "
                         "time: remove the inner or the outer repetition, or make it possessive (a++)")
            branches = [av2[1] for op2, av2 in _flatten(body) if op2 == _c.BRANCH]
            if hi > 1 and any(_ambiguous_branch(b, body) for b in branches):
                self.add("a repeated alternation whose alternatives can start with the same character (like "
                         "(a|ab)*) can take exponential time: make the alternatives distinct")
            self.sequence(body)
        elif op == _c.SUBPATTERN:
            self.sequence(av[3])
        elif op == _c.BRANCH:
            for alt in av[1]:
                self.sequence(alt)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            self.sequence(av[1])
        # Possessive repeats and atomic groups never backtrack into themselves: nothing to check inside.

    def _adjacent_unbounded(self, items: list[tuple[Any, Any]]) -> None:
        # Two unbounded repeats that can eat the same characters, with only optional or overlapping parts
        # between them, split a run of text in O(n²) ways for every start position: cubic time.
        for i, (op, av) in enumerate(items):
            if op not in _REPEATS or av[1] != _UNBOUNDED:
                continue
            chars_i = _chars(av[2])
            for j in range(i + 1, len(items)):
                op2, av2 = items[j]
                if op2 in _REPEATS and av2[1] == _UNBOUNDED and chars_i & _chars(av2[2]):
                    self.add("two unbounded quantifiers that can match the same characters (like .*a.*b or "
                             "\\w+\\s*\\w+) can take cubic time on a long post: bound one ({0,40}) or make them "
                             "match distinct characters")
                    return
                if _min_width(items[j]) > 0 and not (_chars([items[j]]) & chars_i):
                    break  # a required part the first quantifier cannot eat separates them


def _has_unbounded(items: Iterable[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op in _REPEATS and av[1] == _UNBOUNDED:
            return True
        if op == _c.SUBPATTERN and _has_unbounded(av[3]):
            return True
        if op == _c.BRANCH and any(_has_unbounded(alt) for alt in av[1]):
            return True
    return False


def regex_problems(pattern: str) -> list[str]:
    """Why ``pattern`` could backtrack badly (empty when it is safe). Call after ``re.compile`` succeeded."""
    try:
        parsed = _p.parse(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        return [f"cannot be analysed: {exc}"]
    checker = _Checker()
    checker.sequence(list(parsed))
    return checker.problems


def bounded_search(rx: re.Pattern[str], text: str) -> re.Match[str] | None:
    """``rx.search(text)`` over overlapping windows, so a post's length cannot make one search slow."""
    n = len(text)
    if n <= WINDOW:
        return rx.search(text)
    start = 0
    while True:
        end = min(start + WINDOW, n)
        m = rx.search(text, start, end)
        if m is None:
            if end == n:
                return None
            start = end - OVERLAP
        elif m.end() < end or end == n or m.start() == start:
            # A match inside the window is real; one as long as a whole window is a long greedy match.
            return m
        else:
            # A match that touches the window's end may exist only because the window cut the text ($, \b,
            # lookaheads): look again with a full window ahead of where it starts. ``start`` always grows.
            start = m.start()

"""Context words before a number ("הזמנה", "customer", "ת.ז"), found with a spaCy tokenizer and Matcher.

spaCy's tokenizer strips prefixes and suffixes one at a time, searching the rest of the chunk each
time, so a long chunk without spaces made of punctuation (".,.,.,", 10,000 characters) costs seconds:
quadratic in the chunk length. The tokenizer splits on whitespace first and never looks across it, so
the text is cut into segments at chunk boundaries: runs of ordinary chunks go to spaCy unchanged (the
same tokens as tokenizing the whole text), and a chunk longer than ``MAX_CHUNK`` characters (no context
phrase is that long; it is a URL or junk) is split into words and single symbols by a linear pattern.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_CHUNK = 64
_LONG_CHUNK_RE = re.compile(r"(?<!\S)\S{" + str(MAX_CHUNK + 1) + ",}")
_PIECE_RE = re.compile(r"\w+|[^\w\s]")
_VALUE_RE = re.compile(r"[0-9@]")


@dataclass
class ContextIndex:
    """Token start offsets of a text, and the context category of the tokens that carry one."""

    starts: list[int] = field(default_factory=list)
    categories: dict[int, str] = field(default_factory=dict)
    # Tokens that hold a value of their own (a digit or an '@'), see ``before``.
    values: set[int] = field(default_factory=set)

    def token_at(self, char: int) -> int:
        """Index of the token that contains (or last starts before) character ``char``."""
        return bisect_right(self.starts, char) - 1

    def before(self, char: int, window: int, stop_at_values: bool = False) -> Iterator[tuple[int, str]]:
        """(distance, category) of the context words at most ``window`` tokens before ``char``, nearest first.

        ``stop_at_values``: a context word before another value describes that value ("tracking
        0523456789 123456782": the second number is not a tracking number). Lists of order numbers
        ("orders 5590128 and 5593301") are not looked at this way: only ID decisions are.
        """
        tok = self.token_at(char)
        for dist in range(1, window + 1):
            if stop_at_values and tok - dist in self.values:
                return
            category = self.categories.get(tok - dist)
            if category:
                yield dist, category

    def within(self, char: int, categories: tuple[str, ...], window: int) -> bool:
        return any(c in categories for _, c in self.before(char, window))


class LazyContextIndex:
    """A ``ContextIndex`` built on first use: most posts hold no number, and then no context is asked for.

    Why: tokenizing and matching costs ~0.1 ms a post, and only a number candidate (phone, ID, order) reads it.
    """

    def __init__(self, build: Callable[[], ContextIndex]) -> None:
        self._build = build
        self._index: ContextIndex | None = None

    @property
    def index(self) -> ContextIndex:
        if self._index is None:
            self._index = self._build()
        return self._index

    @property
    def categories(self) -> dict[int, str]:
        return self.index.categories

    def token_at(self, char: int) -> int:
        return self.index.token_at(char)

    def before(self, char: int, window: int, stop_at_values: bool = False) -> Iterator[tuple[int, str]]:
        return self.index.before(char, window, stop_at_values)

    def within(self, char: int, categories: tuple[str, ...], window: int) -> bool:
        return self.index.within(char, categories, window)


def _segments(text: str) -> Iterator[tuple[int, int, bool]]:
    """[start, end) segments of ``text`` and whether each is one over-long chunk."""
    last = 0
    for m in _LONG_CHUNK_RE.finditer(text):
        if m.start() > last:
            yield last, m.start(), False
        yield m.start(), m.end(), True
        last = m.end()
    if last < len(text):
        yield last, len(text), False


def build_index(text: str, nlp: Any, matcher: Any) -> ContextIndex:
    """Tokenize ``text`` segment by segment and record each context match on its last token."""
    from spacy.tokens import Doc

    index = ContextIndex()
    for start, end, long_chunk in _segments(text):
        if long_chunk:
            pieces = [(m.start(), m.group()) for m in _PIECE_RE.finditer(text, start, end)]
            doc = Doc(nlp.vocab, words=[w for _, w in pieces], spaces=[False] * len(pieces))
            offsets = [s for s, _ in pieces]
        else:
            doc = nlp.make_doc(text[start:end])
            offsets = [start + t.idx for t in doc]
        first = len(index.starts)
        # Whitespace tokens (a segment's leading space) take no part in token distances: tokenizing the
        # whole text would have attached that space to the token before it.
        keep = [i for i, t in enumerate(doc) if not t.is_space]
        position = {i: first + k for k, i in enumerate(keep)}
        index.starts += [offsets[i] for i in keep]
        index.values.update(position[i] for i in keep if _VALUE_RE.search(doc[i].text))
        for match_id, _begin, stop in matcher(doc):
            # A context phrase is "before" a number from its last token on.
            if stop - 1 in position:
                index.categories[position[stop - 1]] = nlp.vocab.strings[match_id]
    return index

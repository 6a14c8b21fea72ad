"""Normalisation: one canonical form of a post for matching and for the model.

Every output character remembers which original characters produced it, so entity spans found on the
normalised text are reported on the text the customer wrote.
"""

from __future__ import annotations

import re
import unicodedata

from triage.types import NormalisedText

# Hebrew points: cantillation (U+0591-U+05AF) and niqqud (U+05B0-U+05BD, U+05BF, U+05C1-U+05C2,
# U+05C4-U+05C5, U+05C7). Maqaf (U+05BE), paseq (U+05C0), sof pasuq (U+05C3) and nun hafukha
# (U+05C6) are punctuation and stay.
_HEBREW_POINTS = frozenset(
    [*range(0x0591, 0x05BE), 0x05BF, 0x05C1, 0x05C2, 0x05C4, 0x05C5, 0x05C7]
)
# Bidi marks, embeddings, overrides and isolates.
BIDI_MARKS = frozenset([0x200E, 0x200F, 0x061C])
BIDI_OVERRIDES = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# Zero-width and invisible format characters. ZWJ (U+200D) is handled apart: inside emoji sequences
# (family, profession emojis) it is part of the emoji and stays.
_ZERO_WIDTH = frozenset([0x200B, 0x200C, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x180E, 0x00AD])
_ZWJ = 0x200D
# Runs longer than this of one repeated character collapse to this length ("!!!!!!" -> "!!!").
FLOOD_KEEP = 3


def _is_emoji_like(ch: str) -> bool:
    if not ch:  # the text's start or end (a ZWJ there joins nothing)
        return False
    cp = ord(ch)
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or cp in (0xFE0F, 0x20E3)
        or 0x1F3FB <= cp <= 0x1F3FF
    )


def is_bidi_override(ch: str) -> bool:
    return ord(ch) in BIDI_OVERRIDES


def _drop(ch: str, prev: str, nxt: str) -> bool:
    cp = ord(ch)
    if cp in _HEBREW_POINTS or cp in BIDI_MARKS or cp in BIDI_OVERRIDES or cp in _ZERO_WIDTH:
        return True
    if cp == _ZWJ:
        return not (_is_emoji_like(prev) and _is_emoji_like(nxt))
    cat = unicodedata.category(ch)
    # Other control characters (but not whitespace, which is collapsed below).
    return cat == "Cc" and not ch.isspace()


def _groups(text: str) -> list[tuple[int, int]]:
    """Split into [start, end) groups of a base character and the combining marks after it.

    NFKC may compose a base with its marks, so each group is normalised as a unit and every output
    character maps back to the whole group.
    """
    groups: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]) and ord(text[j]) not in _HEBREW_POINTS:
            j += 1
        groups.append((i, j))
        i = j
    return groups


# What the character loop below may change: Hebrew points, bidi marks and overrides, zero-width characters
# and ZWJ, control characters, whitespace other than one space between words, and floods of one character.
# A text with none of them, no combining marks and already in NFKC comes out unchanged (the fast path).
_MAY_CHANGE = re.compile(
    "[" + "".join(f"\\u{cp:04x}" for cp in sorted({*_HEBREW_POINTS, *BIDI_MARKS, *BIDI_OVERRIDES, *_ZERO_WIDTH, _ZWJ}))
    + "\\x00-\\x1f\\x7f-\\x9f]"
    + r"|[^\S ]|  |^ | $|([^0-9])\1{" + str(FLOOD_KEEP) + "}",
    re.DOTALL,
)


def _unchanged(text: str) -> bool:
    """True when ``normalise`` would return ``text`` itself, each character mapping to itself."""
    return (
        _MAY_CHANGE.search(text) is None
        and not any(map(unicodedata.combining, text))
        and unicodedata.is_normalized("NFKC", text)
    )


def normalise(text: str) -> NormalisedText:
    """NFKC, Hebrew points, bidi and zero-width characters removed, whitespace and floods collapsed.

    Emojis (with their variation selectors and ZWJ sequences) are kept.
    """
    if _unchanged(text):  # most posts: skip the per-character loop (~10x faster); same result
        n = len(text)
        return NormalisedText.model_construct(original=text, text=text, starts=list(range(n)),
                                              ends=list(range(1, n + 1)), changes=[])
    return _normalise_by_character(text)


def _normalise_by_character(text: str) -> NormalisedText:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    changes: set[str] = set()

    for gs, ge in _groups(text):
        chunk = text[gs:ge]
        prev = text[gs - 1] if gs > 0 else ""
        nxt = text[ge] if ge < len(text) else ""
        kept = "".join(c for i, c in enumerate(chunk) if not _drop(c, prev if i == 0 else chunk[i - 1],
                                                                   chunk[i + 1] if i + 1 < len(chunk) else nxt))
        if kept != chunk:
            changes.add("removed invisible, bidi or Hebrew point characters")
        if not kept:
            continue
        norm = unicodedata.normalize("NFKC", kept)
        # NFKC can re-introduce points (Hebrew presentation forms decompose to letter + point).
        norm = "".join(c for c in norm if ord(c) not in _HEBREW_POINTS)
        if norm != kept:
            changes.add("NFKC")
        for c in norm:
            if c.isspace():
                c = " "
                # Collapse whitespace runs; never start with a space.
                if not out or out[-1] == " ":
                    if out:
                        ends[-1] = ge
                    changes.add("collapsed whitespace")
                    continue
            elif len(out) >= FLOOD_KEEP and not c.isdigit() and all(o == c for o in out[-FLOOD_KEEP:]):
                # A flood: extend the last kept character's span instead of adding another.
                ends[-1] = ge
                changes.add("collapsed repeated characters")
                continue
            out.append(c)
            starts.append(gs)
            ends.append(ge)

    if out and out[-1] == " ":
        out.pop()
        starts.pop()
        ends.pop()
    return NormalisedText(original=text, text="".join(out), starts=starts, ends=ends, changes=sorted(changes))


_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def has_letters(text: str) -> bool:
    return bool(_LETTER.search(text))

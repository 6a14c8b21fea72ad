"""Keyword matching for policy rules and reply libraries: whole words, Hebrew morphology allowed.

A keyword written in a policy ("עורך דין", "refund") must match how customers write it:

* the post and the keyword are normalised alike (niqqud and width variants never decide), and the quote
  marks of Hebrew abbreviations are interchangeable: ``עו"ד`` matches ``עו״ד`` (gershayim) and ``עו''ד``,
  ``צ'יפס`` matches ``צ׳יפס`` (geresh);
* whole words only, case-insensitive, any whitespace (or a hyphen / maqaf) between the words of a phrase;
* Hebrew prefix letters on the first word (ב ל ה ו מ ש כ: "ולעורך דין", "שהחשבון");
* the definite article inside a Hebrew phrase: the construct state puts it on the last noun
  ("עורך הדין", "הרשות להגנת הצרכן"), so every later Hebrew word may take ה, or a prefix letter plus ה
  ("לעורך הדין", "בבית המשפט"), and a later word written with ה also matches without it ("בית המשפט"
  matches "בבית משפט");
* a phrase whose first word is written with the article also matches when a prefix letter swallows it
  ("הרשות להגנת הצרכן" matches "לרשות להגנת הצרכן"). Single words keep their ה: in "החזר" or "הזמנה" it
  is part of the word, so write single keywords without the article ("משטרה" matches "למשטרה" and
  "המשטרה").

Suffixes are never added: plurals and possessives ("תביעות", "עורכי דין") must be listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from triage.text.normalise import normalise

# Single letters that attach to the front of a Hebrew word: ב ל ה ו מ ש כ ("ולחיוב", "שהחשבון").
HEBREW_PREFIX_LETTERS = "בלהומשכ"
MAX_HEBREW_PREFIXES = 3
ARTICLE = "ה"

# Hebrew abbreviations are written with gershayim (״), an ASCII double quote, two apostrophes or curly
# quotes depending on the keyboard; a geresh (׳) with an apostrophe or a curly one.
_GERSHAYIM = "(?:[\"\u05f4\u201c\u201d\u201e]|'')"
_GERESH = "['\u05f3\u2018\u2019]"
_QUOTES = {'"': _GERSHAYIM, "\u05f4": _GERSHAYIM, "\u201c": _GERSHAYIM, "\u201d": _GERSHAYIM,
           "\u201e": _GERSHAYIM, "'": _GERESH, "\u05f3": _GERESH, "\u2018": _GERESH, "\u2019": _GERESH}
# Between the words of a phrase: whitespace, or a hyphen / maqaf ("עורך-דין", "בית־משפט").
_WORD_GAP = r"(?:\s+|\s*[-\u05be]\s*)"


def _is_hebrew(word: str) -> bool:
    return bool(word) and "\u05d0" <= word[0] <= "\u05ea"


def _literal(word: str) -> str:
    return "".join(_QUOTES.get(ch, re.escape(ch)) for ch in word)


def _cores(keyword: str) -> list[tuple[str, bool]]:
    """The keyword's words as the pattern spells them literally, and whether each is Hebrew.

    A phrase's Hebrew article is left out: on the first word the prefix class (which includes ה) stands for
    it, so "הרשות", "לרשות" and "ולרשות" all match "הרשות ..."; a later word may take it or not.
    """
    words = normalise(keyword).text.casefold().split()
    phrase = len(words) > 1
    cores = []
    for word in words:
        hebrew = _is_hebrew(word)
        article = hebrew and phrase and word.startswith(ARTICLE) and len(word) > 2
        cores.append((word[1:] if article else word, hebrew))
    return cores


def keyword_pattern(keyword: str) -> str:
    """A regex (to search a casefolded, normalised text) for one keyword or phrase."""
    parts = []
    for i, (core, hebrew) in enumerate(_cores(keyword)):
        if not hebrew:
            parts.append(_literal(core))
        elif i == 0:
            parts.append(f"[{HEBREW_PREFIX_LETTERS}]{{0,{MAX_HEBREW_PREFIXES}}}" + _literal(core))
        else:
            parts.append(f"(?:[{HEBREW_PREFIX_LETTERS}]?{ARTICLE})?" + _literal(core))
    joined = _WORD_GAP.join(parts)
    return rf"(?<!\w){joined}(?!\w)"


_QUOTE_SPLIT = re.compile("[" + re.escape("".join(_QUOTES)) + "]")


def keyword_anchor(keyword: str) -> str:
    """A substring that every match of ``keyword_pattern(keyword)`` contains ("" when there is none).

    The longest run of a word's letters that the pattern spells literally: prefixes, the article of a phrase,
    quote marks (several spellings) and the gaps between words are left out.
    """
    pieces = [piece for core, _ in _cores(keyword) for piece in _QUOTE_SPLIT.split(core)]
    return max(pieces, key=len, default="")


class KeywordSet:
    """Several keywords as one search, equal to searching their alternation ``kw1|kw2|...``, but fast.

    Why: a policy's keyword alternation (Hebrew prefixes, quote spellings, word boundaries) costs ~30 µs a
    search in ``re``, and a post meets dozens of them. Here a keyword's regex runs only when the text holds
    its anchor (a substring every match contains, a sub-microsecond test), and the leftmost match wins, the
    earlier keyword on a tie, exactly as the alternation's search would choose.
    """

    def __init__(self, keywords: list[str], pattern: Callable[[str], str] = keyword_pattern,
                 anchor: Callable[[str], str] = keyword_anchor) -> None:
        """``pattern`` / ``anchor``: a keyword's regex and a substring of its every match (other word lists, such
        as the hide guard's with Arabic clitics and stems, bring their own)."""
        self.keywords = list(keywords)
        self._regexes = [re.compile(pattern(k)) for k in self.keywords]
        # An empty anchor (a keyword of quote marks only) is in every text: that keyword's regex always runs.
        self._anchors = [anchor(k) for k in self.keywords]

    def find(self, folded_text: str) -> tuple[str, re.Match[str]] | None:
        """The keyword of the leftmost match in a casefolded, normalised text, and the match; or None."""
        best: tuple[int, int, re.Match[str]] | None = None
        for i, anchor in enumerate(self._anchors):
            if anchor in folded_text:
                m = self._regexes[i].search(folded_text)
                if m is not None and (best is None or m.start() < best[0]):
                    best = (m.start(), i, m)
        return None if best is None else (self.keywords[best[1]], best[2])

    def search(self, folded_text: str) -> re.Match[str] | None:
        found = self.find(folded_text)
        return None if found is None else found[1]

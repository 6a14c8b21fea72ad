"""Keyword matching for policy rules and reply libraries: whole words, Hebrew morphology allowed.

A keyword written in a policy ("עורך דין", "refund") must match how customers write it:

* the post and the keyword are normalised alike (niqqud, odd quotes and width variants never decide);
* whole words only, case-insensitive, any whitespace between the words of a phrase;
* Hebrew prefix letters on the first word (ב ל ה ו מ ש כ: "ולעורך דין", "שהחשבון");
* the definite article inside a Hebrew phrase: the construct state puts it on the last noun
  ("עורך הדין", "הרשות להגנת הצרכן"), so every later Hebrew word may take ה, or a prefix letter plus ה
  ("לעורך הדין", "בבית המשפט").
"""

from __future__ import annotations

import re

from triage.text.normalise import normalise

# Single letters that attach to the front of a Hebrew word: ב ל ה ו מ ש כ ("ולחיוב", "שהחשבון").
HEBREW_PREFIX_LETTERS = "בלהומשכ"
MAX_HEBREW_PREFIXES = 3


def _is_hebrew(word: str) -> bool:
    return bool(word) and "\u05d0" <= word[0] <= "\u05ea"


def keyword_pattern(keyword: str) -> str:
    """A regex (to search a casefolded, normalised text) for one keyword or phrase."""
    words = normalise(keyword).text.casefold().split()
    parts = []
    for i, word in enumerate(words):
        body = re.escape(word)
        if _is_hebrew(word) and i == 0:
            body = f"[{HEBREW_PREFIX_LETTERS}]{{0,{MAX_HEBREW_PREFIXES}}}" + body
        elif _is_hebrew(word) and not word.startswith("ה"):
            body = f"(?:[{HEBREW_PREFIX_LETTERS}]?ה)?" + body
        parts.append(body)
    joined = r"\s+".join(parts)
    return rf"(?<!\w){joined}(?!\w)"

"""'Me too' replies: "גם אצלי", "same here", "у меня тоже", "نفس المشكلة" under someone else's post.

Alone such a reply says nothing the classifier can use ("גם אצלי" is chatter to a model that reads one post);
under an outage post it is one more customer without internet. ``find_me_too`` recognises the phrase in
Hebrew, English, Arabic and Russian when the reply brings little else (at most ``MAX_OTHER_WORDS`` other
words), so the router can give the reply its parent's case: labels, queue and triggers.
"""

from __future__ import annotations

import re

from triage.context.chase import fold

MAX_OTHER_WORDS = 6

_PHRASES: tuple[tuple[str, str], ...] = (
    ("he:me-too", r"(?<!\w)(?:גם\s+(?:אצלי|אצלנו|לי|לנו|אני|אנחנו|פה|כאן|אצלי\s+ככה)|אותו\s+(?:דבר|מצב|סיפור)|"
                  r"אותה\s+(?:בעיה|תקלה)|(?:אצלי|אצלנו)\s+(?:אותו\s+דבר|גם|ככה))(?!\w)"),
    ("en:me-too", r"\b(?:me\s+too|us\s+too|same\s+here|same\s+(?:issue|problem|thing|for\s+me|with\s+me)|"
                  r"ditto|same)\b"),
    ("ar:me-too", r"(?<!\w)(?:و?انا\s+(?:كمان|ايضا|كذلك)|و?احنا\s+كمان|نفس\s+(?:المشكله|الشي|الشيء|الحاله|العطل)|"
                  r"عندي\s+نفس(?:\s+\w+)?)(?!\w)"),
    ("ru:me-too", r"(?<!\w)(?:у\s+(?:меня|нас)\s+тоже|(?:то\s+же|тоже)\s+самое|аналогично|и\s+у\s+(?:меня|нас))(?!\w)"),
    ("plus-one", r"(?<![\w+])\+1(?![\s\d]*\d)"),
)
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in _PHRASES)
_WORD = re.compile(r"[^\W_]+|\+1")


def find_me_too(text: str) -> str | None:
    """The 'me too' phrase of a short reply (its name, e.g. ``he:me-too``), or None."""
    folded = fold(text)
    for name, pattern in _COMPILED:
        match = pattern.search(folded)
        if match is None:
            continue
        rest = folded[: match.start()] + " " + folded[match.end():]
        if len(_WORD.findall(rest)) <= MAX_OTHER_WORDS:
            return name
    return None

"""Language identification: he / en / ar / ru / other.

Script statistics decide most posts cheaply and reliably (Hebrew script is Hebrew for our users; mixed
Hebrew-English posts go to the language with more words). A statistical detector (lingua, which ships
its models) is asked only *within* a script: is this Latin text English or another Latin-script
language, is this Cyrillic Russian or Ukrainian, is this Arabic script Arabic or Persian/Urdu.
Short Latin posts ("lol same", "wtf") are too short for any detector; to Israeli and English-speaking
brands they are English, so English wins unless the detector is confident of another language.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from typing import Any

from triage.types import Language, LanguageResult

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Confidence the detector needs to call a post "another language" rather than ours.
OTHER_LANGUAGE_CONFIDENCE = 0.9
# Function words that occur in English and in no other Latin-script language we see ("in", "a", "me",
# "to" are left out: Dutch, Italian, Spanish and Polish use them too). One of them settles a short post
# as English, where trigram statistics on four words are noise ("lol same thing happened to me").
ENGLISH_MARKERS = frozenset(
    ["the", "and", "you", "your", "you're", "yours", "my", "is", "are", "was", "were", "this", "that", "these", "those",
     "with", "from", "have", "has", "had", "what", "when", "where", "why", "how", "who", "whom", "not", "don't",
     "doesn't", "didn't", "can't", "won't", "isn't", "aren't", "wasn't", "please", "pls", "plz", "thanks", "thank",
     "thx", "i'm", "i've", "i'll", "it's", "its", "just", "still", "been", "will", "would", "could", "should", "our",
     "we", "they", "their", "there", "here", "about", "any", "some", "into", "only", "ever", "never", "again", "got",
     "get", "because", "than", "then", "very", "much", "too", "also", "after", "before", "been", "being", "does", "did",
     "doing", "which", "while", "been", "yes", "yeah", "lol", "omg", "wtf", "smh", "btw", "idk", "tbh", "asap", "guys",
     "hey", "hi"]
)


def script_of(ch: str) -> str:
    cp = ord(ch)
    if 0x0590 <= cp <= 0x05FF or 0xFB1D <= cp <= 0xFB4F:
        return "hebrew"
    if (
        0x0600 <= cp <= 0x06FF
        or 0x0750 <= cp <= 0x077F
        or 0x08A0 <= cp <= 0x08FF
        or 0xFB50 <= cp <= 0xFDFF
        or 0xFE70 <= cp <= 0xFEFF
    ):
        return "arabic"
    if 0x0400 <= cp <= 0x052F:
        return "cyrillic"
    if cp < 0x0250 or 0x1E00 <= cp <= 0x1EFF:
        return "latin"
    name = unicodedata.name(ch, "")
    return name.split(" ")[0].lower() if name else "unknown"


# The ranges ``script_of`` decides by code point, as character classes (disjoint). Letters outside them are
# named one by one through their Unicode names ("LATIN CAPITAL LETTER L WITH DOUBLE BAR" is latin too).
_SCRIPT_RANGES = (
    ("hebrew", "\u0590-\u05ff\ufb1d-\ufb4f"),
    ("arabic", "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"),
    ("cyrillic", "\u0400-\u052f"),
    ("latin", "\x00-\u024f\u1e00-\u1eff"),
)
_SCRIPT_RES = [(name, re.compile(f"[{ranges}]")) for name, ranges in _SCRIPT_RANGES]
_OTHER_SCRIPT_RE = re.compile("[^" + "".join(ranges for _, ranges in _SCRIPT_RANGES) + "]")


def script_shares(text: str) -> tuple[dict[str, float], dict[str, int]]:
    """Share of letters per script, and number of words per script (a word's script is its first letter's).

    Scripts are listed by share, then by where their first letter stands. Counted with one regex per script
    rather than character by character (a tenth of the time on real posts).
    """
    found_words = _WORD.findall(text)
    words: dict[str, int] = {}
    for word in found_words:
        script = script_of(word[0])
        words[script] = words.get(script, 0) + 1
    letters_text = "".join(found_words)
    first_and_count: dict[str, tuple[int, int]] = {}

    def add(script: str, first: int, count: int) -> None:
        known = first_and_count.get(script)
        first_and_count[script] = (first, count) if known is None else (min(known[0], first), known[1] + count)

    for name, rx in _SCRIPT_RES:
        first = rx.search(letters_text)
        if first is not None:
            add(name, first.start(), len(rx.findall(letters_text)))
    for m in _OTHER_SCRIPT_RE.finditer(letters_text):
        add(script_of(m.group()), m.start(), 1)
    letters = {s: n for s, (_, n) in sorted(first_and_count.items(), key=lambda kv: kv[1][0])}
    total = len(letters_text)
    shares = {s: round(n / total, 4) for s, n in sorted(letters.items(), key=lambda kv: -kv[1])} if total else {}
    return shares, words


_NOT_LANGUAGE = re.compile(
    r"(?:https?://|www\.)\S+|\S+@\S+|@\w+|#\w+"  # links, addresses, handles, hashtags
    r"|\b[\w-]+\.(?:com|co\.il|me|ly|io|win|net|org)(?:/\S*)?",  # bare domains
    re.UNICODE,
)

_PERSIAN_URDU_LETTERS = re.compile("[\u067E\u0686\u0698\u06AF\u06A9\u06CC\u0679\u0688\u0691\u06BA\u06D2\u06C1]")

_SCRIPT_LANGUAGE: dict[str, Language] = {"hebrew": "he", "latin": "en", "arabic": "ar", "cyrillic": "ru"}


class LanguageIdentifier:
    """Decides a post's language. Builds its detector on first use (well under a second), then ~0.1 ms a post."""

    @cached_property
    def _detector(self) -> Any:
        from lingua import Language, LanguageDetectorBuilder

        languages = [
            Language.ENGLISH, Language.FRENCH, Language.SPANISH, Language.GERMAN, Language.ITALIAN,
            Language.PORTUGUESE, Language.DUTCH, Language.TURKISH, Language.INDONESIAN, Language.POLISH,
            Language.ROMANIAN, Language.RUSSIAN, Language.UKRAINIAN, Language.BULGARIAN, Language.ARABIC,
            Language.PERSIAN, Language.URDU,
        ]
        # Low-accuracy mode uses trigram models only: ~40 MB instead of ~430 MB resident and a 0.3 s
        # start instead of several seconds. Its weaker calls on very short texts do not matter here,
        # because a post is only called "another language" when the detector is confident (above).
        return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()

    def _detect(self, text: str, ours: Language) -> tuple[Language, float, str]:
        """Within one script: our language, or 'other' when the detector is sure it is another."""
        if ours == "en" and any(w.lower() in ENGLISH_MARKERS for w in re.findall(r"[A-Za-z']+", text)):
            return "en", 0.95, "markers"
        values = self._detector.compute_language_confidence_values(text)
        if not values:
            return ours, 0.5, "script"
        top = values[0]
        code = top.language.iso_code_639_1.name.lower()
        if code == ours:
            return ours, float(top.value), "detector"
        if float(top.value) >= OTHER_LANGUAGE_CONFIDENCE and len(_WORD.findall(text)) >= 2:
            return "other", float(top.value), "detector"
        ours_value = next((float(v.value) for v in values if v.language.iso_code_639_1.name.lower() == ours), 0.0)
        return ours, max(ours_value, 0.5), "script"

    def identify(self, text: str) -> LanguageResult:
        # Links, addresses and handles are Latin whatever language the post is written in.
        stripped = _NOT_LANGUAGE.sub(" ", text)
        # A post of handles only ("@דני @רותי") is still written in the handles' script.
        text = stripped if _WORD.search(stripped) else text
        shares, words = script_shares(text)
        if not shares:
            return LanguageResult(language="other", confidence=1.0, scripts={}, method="no-letters")
        # Dominant script by words, then by letters: "the app קורס כל פעם" is Hebrew.
        dominant = max(words, key=lambda s: (words[s], shares.get(s, 0.0)))
        ours = _SCRIPT_LANGUAGE.get(dominant)
        if ours is None:
            return LanguageResult(language="other", confidence=shares.get(dominant, 1.0), scripts=shares,
                                  method="script")
        if ours == "he":
            # No other language our users write uses Hebrew script (Yiddish is outside the schema).
            return LanguageResult(language="he", confidence=shares["hebrew"], scripts=shares, method="script")
        script_text = " ".join(w for w in _WORD.findall(text) if script_of(w[0]) == dominant)
        if ours == "ar" and _PERSIAN_URDU_LETTERS.search(script_text):
            # Letters Arabic does not use: Persian / Urdu, which short texts leave the detector unsure of.
            return LanguageResult(language="other", confidence=0.9, scripts=shares, method="script")
        language, confidence, method = self._detect(script_text, ours)
        return LanguageResult(language=language, confidence=round(min(max(confidence, 0.0), 1.0), 4), scripts=shares,
                              method=method)

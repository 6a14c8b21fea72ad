"""Values from outside (the channel's author profile, the request) checked before they go into a reply.

A reply is posted in public under the brand's name, so anything copied into it is the brand speaking. A
profile name is whatever the author typed: an incident put a right-to-left override (U+202E) and a phone
number from ``first_name`` into a public reply. So:

* control, format (bidi, zero-width), private-use and surrogate characters are removed, and emoji and
  other symbols dropped from names; whitespace is collapsed;
* a name is refused (the reply then goes without it) when it holds a digit, an ``@``, a link or any
  character other than letters, marks, spaces and ``- ' ’ ׳ .`` and the maqaf, or is longer than ``MAX_NAME`` characters
  or ``MAX_NAME_WORDS`` words;
* a handle is ``@`` and 1-30 letters, digits, ``_`` or ``.``, and never a run of 7 digits (a phone);
* a phrase (``eta``) may hold digits ("עד 16:00") but no link, ``@``, braces or 7-digit run, and at most
  ``MAX_PHRASE`` characters. A bare time ("16:00") is written out for the language ("עד השעה 16:00").

Each function returns the clean value, or None and the reason it was refused (the reason never repeats
the value: it may be personal data).
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 40
MAX_NAME_WORDS = 4
MAX_AGENT_NAME = 60
MAX_PHRASE = 80

_DROP = ("Cc", "Cf", "Co", "Cs", "Cn")
# Emoji and modifier symbols are decoration and are dropped; math and currency signs (<, >, $) are not
# part of a name, so they are left in and the name is refused.
_SYMBOLS = ("So", "Sk")
_NAME_PUNCT = set("-'’׳.\u05be")  # maqaf: "שי־לי"
_URL_RE = re.compile(r"://|www\.|\.(?:com|net|org|io|ly|me|co|il|ru|info|biz)\b", re.IGNORECASE)
_HANDLE_RE = re.compile(r"^[A-Za-z0-9_.]{1,30}$")
_DIGIT_RUN_RE = re.compile(r"\d[\d\s\-.()/]*\d")
# Israeli phone numbers have 9 or 10 digits (03-1234567, 052-3456789); a date has at most 8 (2026-09-15).
PHONE_DIGITS = 9
_BARE_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_BY_TIME = {"he": "עד השעה {}", "en": "by {}", "ar": "حتى الساعة {}", "ru": "до {}"}

Clean = tuple[str | None, str | None]


def _strip(value: str, *, symbols: bool) -> str:
    text = unicodedata.normalize("NFKC", value)
    drop = _DROP + _SYMBOLS if symbols else _DROP
    text = "".join(" " if ch.isspace() else ch for ch in text if unicodedata.category(ch) not in drop or ch.isspace())
    return " ".join(text.split())


def clean_name(value: str | None, *, max_chars: int = MAX_NAME, max_words: int = MAX_NAME_WORDS) -> Clean:
    """A person's name fit for a reply, or (None, why)."""
    if value is None:
        return None, None
    # Punctuation belongs inside a name (O'Brien, Jean-Luc), never around it: ".Dana" would render ", .Dana".
    text = _strip(value, symbols=True).strip("".join(_NAME_PUNCT) + " ")
    if not text:
        return None, "it is empty once invisible characters and symbols are removed"
    if any(ch.isdigit() for ch in text):
        return None, "it contains digits"
    if not any(ch.isalpha() for ch in text):  # "." or "-" would render as "Thank you so much, .!"
        return None, "it has no letters"
    if "@" in text or _URL_RE.search(text):
        return None, "it contains an address or a link"
    if any(not (ch.isalpha() or ch == " " or ch in _NAME_PUNCT or unicodedata.category(ch).startswith("M"))
           for ch in text):
        return None, "it contains characters a name does not have"
    if len(text) > max_chars or len(text.split()) > max_words:
        return None, "it is too long for a name"
    return text, None


def clean_handle(value: str | None) -> Clean:
    if value is None:
        return None, None
    text = _strip(value, symbols=True).lstrip("@")
    if not _HANDLE_RE.match(text):
        return None, "it is not a plain @handle"
    if re.search(r"\d{7}", text):
        return None, "it looks like a phone number"
    return f"@{text}", None


def clean_phrase(value: str | None, language: str | None = None, *, max_chars: int = MAX_PHRASE) -> Clean:
    """A short phrase from the request (``eta``), with a bare time written out for ``language``."""
    if value is None:
        return None, None
    text = _strip(value, symbols=False)
    if not text:
        return None, "it is empty"
    if "@" in text or _URL_RE.search(text) or any(ch in text for ch in "{}[]<>"):
        return None, "it contains an address, a link or markup"
    if any(sum(c.isdigit() for c in m.group(0)) >= PHONE_DIGITS for m in _DIGIT_RUN_RE.finditer(text)):
        return None, "it contains a long number (a phone?)"
    if len(text) > max_chars:
        return None, "it is too long"
    if _BARE_TIME_RE.match(text) and language in _BY_TIME:
        text = _BY_TIME[language].format(text)
    return text, None

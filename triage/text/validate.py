"""Checks on raw post text before any stage runs. Each failure is an InputError with a stable code."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from triage.errors import InputError
from triage.text.normalise import BIDI_OVERRIDES

MAX_CHARS_DEFAULT = 5000


@dataclass(frozen=True)
class TextLimits:
    max_chars: int = MAX_CHARS_DEFAULT
    # Bidi embeddings / overrides / isolates (U+202A-E, U+2066-9) can make a text read differently
    # from what it contains ("Trojan source"). Marks (RLM/LRM) are common in Hebrew and always allowed.
    reject_bidi_overrides: bool = True


def decode_utf8(data: bytes, field: str = "text") -> str:
    """Decode bytes strictly; broken UTF-8 is an error, never silently replaced."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{field} is not valid UTF-8 (byte {exc.start}: {exc.reason}); send UTF-8 encoded text",
            code="invalid_utf8",
            field=field,
        ) from exc


# One regex scan each instead of a Python loop over every character.
_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI_OVERRIDE = re.compile("[" + "".join(chr(cp) for cp in sorted(BIDI_OVERRIDES)) + "]")


def _blank(text: str) -> bool:
    """Nothing to read: only whitespace, controls (NUL...) and format characters (zero-width, bidi marks)."""
    return all(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in text)


def check_text(text: str, limits: TextLimits, field: str = "text") -> None:
    if not isinstance(text, str):
        raise InputError(f"{field} must be a string", code="invalid_type", field=field)
    if _blank(text):
        raise InputError(f"{field} is empty; send the post's text", code="empty_text", field=field)
    if len(text) > limits.max_chars:
        raise InputError(
            f"{field} has {len(text)} characters, more than the limit of {limits.max_chars}; split or shorten it",
            code="text_too_long",
            field=field,
        )
    if _SURROGATE.search(text):
        raise InputError(f"{field} contains lone UTF-16 surrogates (broken encoding)", code="invalid_utf8", field=field)
    if limits.reject_bidi_overrides and _BIDI_OVERRIDE.search(text):
        raise InputError(
            f"{field} contains bidi embedding/override/isolate control characters (U+202A-U+202E, U+2066-U+2069); "
            "remove them (RLM/LRM marks are fine)",
            code="bidi_control",
            field=field,
        )

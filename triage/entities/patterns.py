"""The shapes of entities, as regular expressions that run in time linear in the text length.

Python's ``re`` backtracks, so a pattern is only safe when, at every start position, the work it can do
is bounded by a constant, or when each character can be consumed by only one start. The rules every
pattern here follows (tests/entities/test_linear_time.py checks them on adversarial inputs):

- every repetition that can fail and backtrack is bounded (``{0,63}``), so one start costs at most a
  constant; a left boundary (``(?<![...])``) keeps a run from being a start at each of its characters;
- repeated groups are unambiguous: inside ``(?:SEP?[0-9]){7}`` a separator and a digit never match the
  same character, so there is exactly one way to split a string into iterations and backtracking only
  gives iterations back one by one;
- alternations whose branches overlap are bounded and short (``com|co.il``);
- the only unbounded repetitions are runs that nothing after them can fail (the body of a URL, a chain
  of digit groups): they consume their run once and ``finditer`` resumes behind it.

Patterns run on ``fold(text)``: every decimal digit of any script (Arabic-Indic, Extended Arabic-Indic,
Devanagari, ...) becomes its ASCII digit and every dash (en, em, minus, maqaf) an ASCII hyphen. The
mapping is one character to one character, so offsets into the folded text are offsets into the
normalised text (and through it, into the original).
"""

from __future__ import annotations

import re
import unicodedata

# ---------------------------------------------------------------------------------------------- folding


class _FoldTable(dict[int, int]):
    """``str.translate`` table filled on first sight of each character (building it for all of Unicode
    up front costs ~0.2 s at import): decimal digits of any script -> ASCII, everything else -> itself."""

    def __missing__(self, cp: int) -> int:
        value = unicodedata.decimal(chr(cp), None)
        self[cp] = cp if value is None else 0x30 + value
        return self[cp]


# Hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar, minus, Hebrew maqaf, small
# and fullwidth hyphen-minus (NFKC maps some of these already; patterns do not rely on it).
_FOLD = _FoldTable({cp: ord("-") for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x05BE, 0xFE58,
                                            0xFE63, 0xFF0D)})


def fold(text: str) -> str:
    """Digits of every script to ASCII, dashes to '-': same length, same offsets."""
    return text.translate(_FOLD)


# -------------------------------------------------------------------------------------------- building

# Hebrew letters may be glued in front of a number ("ל0521234567"), so the left boundary blocks only
# Latin letters, digits and '+'.
_L = r"(?<![0-9A-Za-z+])"
_R = r"(?![0-9A-Za-z])"
# One separator between digit groups: space, '.', '/', or a dash with optional spaces around it
# ("052 - 3456789"). It never matches a digit, which keeps the repeated groups below unambiguous.
SEP = r"(?:[ ./]| ?- ?)"

# ------------------------------------------------------------------------------------------ web shapes

URL_RE = re.compile(
    # A scheme or www. starts a URL that runs to the next space or quote (one character class, no
    # backtracking). A bare domain needs a known TLD and a '/'; it cannot start inside a word or after
    # a hyphen (so a run of "a-a-a-" is one start, not one per letter) and a label is at most 63 chars.
    r"(?:https?://|www\.)[^\s<>\"'״]+"
    r"|(?<![\w@.\-])[a-z0-9-]{1,63}\.(?:com|co\.il|org\.il|gov\.il|org|net|ly|io|me|il)/[^\s<>\"']*",
    re.I,
)

# E-mail, internationalised: local part and domain labels may be in any script ("דני@דוגמה.קום").
# Bounded by RFC 5321 sizes: local part 64, label 63, at most 16 labels. The top-level domain is all
# Latin or all non-Latin letters, so Hebrew text glued after ".co.il" is not swallowed into it.
EMAIL_RE = re.compile(
    r"(?<![\w.%+\-])[^\W_][\w.%+\-]{0,63}"
    r"@(?:[^\W_][\w\-]{0,62}\.){1,16}"
    r"(?:[A-Za-z]{2,63}|[^\W\d_A-Za-z]{2,63})"
)
# Hebrew prefix letters glued to a Latin address ("לdana@x.com", "מ-support@x.com") are not part of it.
EMAIL_HEBREW_PREFIX_RE = re.compile(r"[\u05d0-\u05ea]{1,63}-?(?=[A-Za-z0-9])")

MENTION_RE = re.compile(r"(?<![\w@.])@[^\W][\w.]{0,30}")

# -------------------------------------------------------------------------------------------- phones

# Israeli numbers: a trunk 0, or the country code (+972, 00972 or a bare 972, then an optional "(0)" or
# 0), an area code (5X mobile, 7X VoIP, 2/3/4/8/9 landline) and seven digits, each optionally preceded
# by one separator. "(052) 3456789" writes the area code in parentheses.
_IL_AREA = r"(?:5[0-9]|7[0-9]|[23489])"
_IL_TRUNK = r"(?:(?:\+|00)?972" + SEP + r"?(?:\(0\)" + SEP + r"?|0" + SEP + r"?)?|0)"
# Separators may stand between any two digits, so "05/12/2023 9:30" has the shape of a mobile number:
# a date (day, month, year) at the start rules a match out.
_NOT_A_DATE = r"(?![0-3]?[0-9][./\-][01]?[0-9][./\-](?:19|20)?[0-9]{2}(?![0-9]))"
IL_PHONE_RE = re.compile(
    _L + _NOT_A_DATE + r"(?:" + _IL_TRUNK + _IL_AREA + r"|\(0" + _IL_AREA + r"\))(?:" + SEP + r"?[0-9]){7}" + _R
)
# International numbers with a country code: a '+', then 7-17 digits (a parenthesised area code counts
# as one step). E.164 allows at most 15 digits: the extractor trims longer matches at a separator.
INTL_PHONE_RE = re.compile(_L + r"\+(?!972)[1-9](?:" + SEP + r"?(?:[0-9]|\([0-9]{1,4}\))){6,16}" + _R)
# Israeli toll-free / shared-cost numbers: 1-800-XXX-XXX, 1-700-...
TOLL_FREE_RE = re.compile(_L + r"1" + SEP + r"?[5789]00" + SEP + r"?[0-9]{2,3}" + SEP + r"?[0-9]{3,4}" + _R)
# North American without a country code: (415) 555-0134, 415-555-0134.
NANP_RE = re.compile(_L + r"(?:\([0-9]{3}\) ?|[0-9]{3}[-.])[0-9]{3}[-.][0-9]{4}" + _R)

# ------------------------------------------------------------------------------------- other numbers

# Digit groups joined by single separators: cards are searched inside such chains. The separator never
# matches a digit, so the chain is matched in one pass.
CHAIN_RE = re.compile(r"(?<![0-9])[0-9]+(?:" + SEP + r"[0-9]+)*")
# Israeli ID candidates: nine digits bare, "12345678-2" (check digit apart; 5-8 digits when written
# without leading zeros) and "123-45678-2". Whether a candidate is an ID is decided by the extractor.
ID_RE = re.compile(
    _L + r"(?:[0-9]{3}" + SEP + r"[0-9]{5}" + SEP + r"[0-9]|[0-9]{5,8}" + SEP + r"[0-9]|[0-9]{5,9})" + _R
)
# Order-like tokens: at least 4 digits, optionally letters and hyphens ("A-99812", "RR123456789IL").
# The look-ahead that counts digits is bounded by the token's own length.
ORDER_RE = re.compile(
    r"(?<![0-9A-Za-z#])#?(?=(?:[A-Za-z-]{0,31}[0-9]){4})[A-Za-z0-9](?:[A-Za-z0-9-]{2,30}[A-Za-z0-9])"
)

# Every pattern by name, for the tests that time them on adversarial inputs.
ALL_PATTERNS: dict[str, re.Pattern[str]] = {
    "url": URL_RE,
    "email": EMAIL_RE,
    "email_prefix": EMAIL_HEBREW_PREFIX_RE,
    "mention": MENTION_RE,
    "il_phone": IL_PHONE_RE,
    "intl_phone": INTL_PHONE_RE,
    "toll_free": TOLL_FREE_RE,
    "nanp": NANP_RE,
    "chain": CHAIN_RE,
    "il_id": ID_RE,
    "order": ORDER_RE,
}

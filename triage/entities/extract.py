"""Personal and case data in a post: phones, emails, Israeli IDs, cards, order numbers, URLs, @mentions.

Shapes are found with patterns on the normalised text and confirmed by validators (Luhn, the Israeli ID
check digit). Order / case / tracking numbers have no shape of their own: a spaCy tokenizer (``blank``
he / en / xx) and a ``Matcher`` over prefix-stripped context words ("הזמנה", "להזמנה", "order", "case")
decide them. Spans are mapped back to the original text through the normaliser's offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from triage.entities.lexicon import ID_WORDS, ORDER_WORDS, PHONE_WORDS, strip_hebrew_prefixes
from triage.entities.validators import card_valid, digits_only, israeli_id_valid
from triage.types import REDACTED_TYPES, EntitiesResult, Entity, NormalisedText

# Hebrew letters may be glued in front of a number or address ("ל0521234567", "במייל"), so the left
# boundary blocks only Latin letters and digits.
_L = r"(?<![0-9A-Za-z+])"
_R = r"(?![0-9A-Za-z])"
_SEP = r"[ \-.]?"

URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'״]+|(?<![\w@.])[a-z0-9-]+\.(?:com|co\.il|org\.il|gov\.il|org|net|ly|io|me|il)/[^\s<>\"']*", re.I)
EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
MENTION_RE = re.compile(r"(?<![\w@.])@[^\W][\w.]{0,30}", re.UNICODE)
PHONE_RES = [
    # Israeli mobile: 05X-XXXXXXX, +972 5X XXX XXXX, +972-(0)5X...
    re.compile(_L + r"(?:\+972" + _SEP + r"(?:\(0\))?" + _SEP + r"|0)5\d" + r"(?:" + _SEP + r"\d){7}" + _R),
    # Israeli landline and VoIP: 02/03/04/08/09 and 07X + 7 digits.
    re.compile(_L + r"(?:\+972" + _SEP + r"|0)(?:[23489]|7\d)" + _SEP + r"\d{3}" + _SEP + r"\d{4}" + _R),
    # Israeli toll-free / shared-cost numbers: 1-800-XXX-XXX, 1-700-...
    re.compile(_L + r"1" + _SEP + r"[5789]00" + _SEP + r"\d{2,3}" + _SEP + r"\d{3,4}" + _R),
    # International with a country code.
    re.compile(_L + r"\+(?!972)[1-9]\d{0,2}(?:" + _SEP + r"\(\d{1,4}\))?(?:" + _SEP + r"\d{2,5}){2,5}" + _R),
    # North American without a country code: (415) 555-0134, 415-555-0134.
    re.compile(_L + r"(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}" + _R),
]
# Digit groups joined by single spaces or hyphens: cards are searched inside such chains.
CHAIN_RE = re.compile(r"(?<![0-9])\d+(?:[ \-]\d+)*(?![0-9])")
DIGITS_RE = re.compile(r"(?<![0-9A-Za-z])(?:\d{7,8}-\d|\d{5,9})(?![0-9A-Za-z])")
# Order-like tokens: at least 4 digits, optionally letters and hyphens ("A-99812", "RR123456789IL").
ORDER_RE = re.compile(r"(?<![0-9A-Za-z#])#?(?=(?:[A-Za-z-]*\d){4})[A-Za-z0-9](?:[A-Za-z0-9-]{2,30}[A-Za-z0-9])")

# How many tokens before a number a context word may stand ("order number is #123" -> 3).
CONTEXT_WINDOW = 4
# Entity types in the order conflicts are settled: an earlier type keeps its span.
_PRIORITY = ["url", "email", "card", "phone", "order_id", "il_id", "mention"]


@dataclass(frozen=True)
class _Span:
    type: str
    start: int
    end: int
    value: str


def _import_spacy() -> Any:
    """Import spaCy without letting thinc import torch.

    thinc imports torch whenever it is installed (a training environment), which costs ~260 MB resident
    per worker for nothing: the tokenizer and Matcher never touch it. Unless torch is already loaded, it
    is hidden for the duration of the import and visible again afterwards.
    """
    import sys

    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


def _spacy_lang(language: str) -> str:
    return language if language in ("he", "en") else "xx"


class EntityExtractor:
    """Finds entities. Builds its spaCy tokenizers on first use per language."""

    def __init__(self) -> None:
        self._nlp: dict[str, Any] = {}

    @cached_property
    def _matcher_attrs(self) -> None:
        from spacy.tokens import Token

        if not Token.has_extension("triage_ctx"):
            Token.set_extension("triage_ctx", getter=_context_category)

    def _pipeline(self, language: str) -> tuple[Any, Any]:
        code = _spacy_lang(language)
        if code not in self._nlp:
            spacy = _import_spacy()
            from spacy.matcher import Matcher

            self._matcher_attrs  # noqa: B018 - registers the token extension once
            nlp = spacy.blank(code)
            matcher = Matcher(nlp.vocab)
            for category in ("order", "phone", "id"):
                matcher.add(category, [[{"_": {"triage_ctx": category}}]])
            # "ת.ז" is split by the tokenizer into three tokens.
            matcher.add("id", [[{"TEXT": {"IN": ["ת", "ות", "בת"]}}, {"TEXT": "."}, {"TEXT": {"IN": ["ז", "ז."]}}]])
            self._nlp[code] = (nlp, matcher)
        return self._nlp[code]

    def _context(self, text: str, language: str) -> tuple[Any, dict[int, str]]:
        nlp, matcher = self._pipeline(language)
        doc = nlp.make_doc(text)
        found: dict[int, str] = {}
        for match_id, _start, end in matcher(doc):
            # A context phrase is "before" a number from its last token on.
            found[end - 1] = nlp.vocab.strings[match_id]
        return doc, found

    def extract(self, norm: NormalisedText, language: str = "other") -> EntitiesResult:
        text = norm.text
        spans: list[_Span] = []
        for m in URL_RE.finditer(text):
            s, e = m.start(), m.end()
            while e > s and text[e - 1] in ".,!?;:)]}״\"'":
                e -= 1
            spans.append(_Span("url", s, e, text[s:e]))
        spans += [_Span("email", m.start(), m.end(), m.group().lower()) for m in EMAIL_RE.finditer(text)]
        for m in MENTION_RE.finditer(text):
            s, e = m.start(), m.end()
            while e > s + 1 and text[e - 1] == ".":
                e -= 1
            spans.append(_Span("mention", s, e, text[s:e]))
        spans += _card_spans(text)

        doc, context = self._context(text, language)

        def nearby(start: int, category: str, window: int = CONTEXT_WINDOW) -> int | None:
            """Distance in tokens to the closest context word of ``category`` before char ``start``."""
            span = doc.char_span(start, start + 1, alignment_mode="expand")
            if span is None:
                return None
            tok = span.start
            for dist in range(1, window + 1):
                if context.get(tok - dist) == category:
                    return dist
            return None

        for rx in PHONE_RES:
            for m in rx.finditer(text):
                order_dist = nearby(m.start(), "order", 2)
                if order_dist is not None and nearby(m.start(), "phone") is None:
                    continue  # "מספר לקוח 0541234567": a customer number that looks like a phone
                end = m.end()
                # E.164 numbers have at most 15 digits: a longer match ran into the next number.
                while len(digits_only(text[m.start() : end])) > 15 and re.search(r"[ \-.]\d+$", text[m.start() : end]):
                    end = m.start() + re.search(r"[ \-.]\d+$", text[m.start() : end]).start()  # type: ignore[union-attr]
                if len(digits_only(text[m.start() : end])) <= 15:
                    spans.append(_Span("phone", m.start(), end, digits_only(text[m.start() : end])))
        for m in ORDER_RE.finditer(text):
            if nearby(m.start(), "order") is None:
                continue
            s = m.start() + (1 if text[m.start()] == "#" else 0)
            spans.append(_Span("order_id", s, m.end(), text[s : m.end()].upper()))
        for m in DIGITS_RE.finditer(text):
            number = digits_only(m.group())
            if nearby(m.start(), "order") is not None:
                continue
            # A bare 9-digit number with a valid check digit is an ID; shorter ones need an ID word nearby.
            id_like = (len(number) == 9 and "-" not in m.group()) or nearby(m.start(), "id") is not None
            if id_like and israeli_id_valid(number):
                spans.append(_Span("il_id", m.start(), m.end(), number.zfill(9)))

        chosen = _resolve(spans)
        entities = []
        for sp in chosen:
            start, end = norm.to_original(sp.start, sp.end)
            entities.append(
                Entity(
                    type=sp.type,  # type: ignore[arg-type]
                    start=start,
                    end=end,
                    text=norm.original[start:end],
                    value=sp.value,
                    redacted=sp.type in REDACTED_TYPES,
                )
            )
        return EntitiesResult(entities=entities, redacted_text=redact(norm.original, entities))


def _card_spans(text: str) -> list[_Span]:
    """Luhn-valid 13-19 digit runs, starting and ending on group boundaries.

    A chain like "052-3456789 4580 4580 4580 4580" holds a phone and a card, so every start group is
    tried, longest candidate first.
    """
    spans = []
    for chain in CHAIN_RE.finditer(text):
        groups = [(chain.start() + g.start(), chain.start() + g.end()) for g in re.finditer(r"\d+", chain.group())]
        i = 0
        while i < len(groups):
            for j in range(len(groups) - 1, i - 1, -1):
                number = digits_only(text[groups[i][0] : groups[j][1]])
                if card_valid(number):
                    spans.append(_Span("card", groups[i][0], groups[j][1], number))
                    i = j
                    break
            i += 1
    return spans


def _context_category(token: Any) -> str:
    # The Matcher needs a string for every token: "" means no context word.
    word = token.lower_.strip(".:#'\"")
    if strip_hebrew_prefixes(word, ORDER_WORDS) is not None:
        return "order"
    if strip_hebrew_prefixes(word, PHONE_WORDS) is not None:
        return "phone"
    if word in ID_WORDS or token.lower_ in ID_WORDS or strip_hebrew_prefixes(word, ID_WORDS) is not None:
        return "id"
    return ""


def _resolve(spans: list[_Span]) -> list[_Span]:
    """Keep non-overlapping spans, preferring types earlier in _PRIORITY, then longer spans."""
    ranked = sorted(spans, key=lambda s: (_PRIORITY.index(s.type), -(s.end - s.start), s.start))
    kept: list[_Span] = []
    for sp in ranked:
        if all(sp.end <= k.start or sp.start >= k.end for k in kept):
            kept.append(sp)
    return sorted(kept, key=lambda s: s.start)


def redact(original: str, entities: list[Entity]) -> str:
    """Replace every personal-data span with its placeholder; other entities stay readable."""
    out, last = [], 0
    for ent in sorted(entities, key=lambda e: e.start):
        if not ent.redacted:
            continue
        out.append(original[last : ent.start])
        out.append(REDACTED_TYPES[ent.type])
        last = ent.end
    out.append(original[last:])
    return "".join(out)

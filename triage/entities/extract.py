"""Personal and case data in a post: phones, emails, Israeli IDs, cards, order numbers, URLs, @mentions.

Shapes are found with patterns (``triage.entities.patterns``, all linear in the text length) on the
normalised text with every digit script folded to ASCII and every dash to '-', and confirmed by
validators (Luhn, the Israeli ID check digit). Order / case / tracking numbers have no shape of their
own: a spaCy tokenizer (``blank`` he / en / xx) and a ``Matcher`` over prefix-stripped context words
("הזמנה", "להזמנה", "order", "case") decide them (``triage.entities.context``). Spans are mapped back to
the original text through the normaliser's offsets.

Where personal data and case data compete for the same digits, personal data wins (a leaked phone
number costs more than an unreadable order number):

- an Israeli or '+'-prefixed phone number is a phone even when the text calls it an order / tracking /
  customer number ("tracking 0523456789"); only the weak shapes (toll-free 1-800, North American
  without a country code) still yield to an order word;
- a 9-digit number with a valid ID check digit presented as a customer / subscriber / member number
  ("מספר לקוח 123456782", "customer id 123456782") is an ``il_id``: companies in Israel key customers by
  their teudat zehut. Presented as an order / case / tracking / reference number ("order id ...") it
  stays an ``order_id``, as the taxonomy says;
- overlapping personal-data spans merge into one redacted span instead of leaving a remainder readable.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

from triage.entities.cards import card_spans
from triage.entities.context import ContextIndex, LazyContextIndex, build_index
from triage.entities.lexicon import ID_WORDS, ORDER_WORDS, PERSON_WORDS, PHONE_WORDS, strip_hebrew_prefixes
from triage.entities.patterns import (
    CHAIN_RE,
    EMAIL_HEBREW_PREFIX_RE,
    EMAIL_RE,
    ID_RE,
    IL_PHONE_RE,
    INTL_PHONE_RE,
    MENTION_RE,
    NANP_RE,
    ORDER_RE,
    TOLL_FREE_RE,
    URL_RE,
    fold,
)
from triage.entities.validators import digits_only, israeli_id_valid
from triage.types import REDACTED_TYPES, EntitiesResult, Entity, NormalisedText

__all__ = ["CHAIN_RE", "EMAIL_RE", "ID_RE", "MENTION_RE", "ORDER_RE", "PHONE_RES", "URL_RE", "EntityExtractor",
           "redact"]


def _overlapping(rx: re.Pattern[str]) -> re.Pattern[str]:
    """``rx`` tried at every start position, matches reported in group 1 (still linear: ``rx`` is bounded).

    ``finditer`` resumes after a match, so in "3000 000000 02003 9722 0000000" a false phone
    ("02003 9722") would hide the real one behind it ("9722 0000000"). Overlapping phone spans are
    merged into one redacted span when conflicts are resolved.
    """
    return re.compile(r"(?=(" + rx.pattern + r"))", rx.flags)


# (pattern, strong): a strong phone shape is a phone whatever the context says; a weak one yields to an
# order word ("order 1-800-123-456" is more likely an order number than a toll-free line).
PHONE_RES = [(_overlapping(rx), strong) for rx, strong in
             ((IL_PHONE_RE, True), (INTL_PHONE_RE, True), (TOLL_FREE_RE, False), (NANP_RE, False))]
E164_MAX_DIGITS = 15
PHONE_MIN_DIGITS = 7
_PHONE_GROUP_RE = re.compile(r"\([0-9]+\)|[0-9]+")

# How many tokens before a number a context word may stand ("order number is #123" -> 3).
CONTEXT_WINDOW = 4
# Entity types in the order conflicts are settled: an earlier type keeps its span. Personal data
# (card, phone, il_id) comes before case data (order_id).
_PRIORITY = ["url", "email", "card", "phone", "il_id", "order_id", "mention"]
_RANK = {t: i for i, t in enumerate(_PRIORITY)}
_CASE = ("order", "person")


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
            for category in ("order", "person", "phone", "id"):
                matcher.add(category, [[{"_": {"triage_ctx": category}}]])
            # "ת.ז" is split by the tokenizer into three tokens.
            matcher.add("id", [[{"TEXT": {"IN": ["ת", "ות", "בת"]}}, {"TEXT": "."}, {"TEXT": {"IN": ["ז", "ז."]}}]])
            self._nlp[code] = (nlp, matcher)
        return self._nlp[code]

    def _context(self, text: str, language: str) -> LazyContextIndex:
        def build() -> ContextIndex:
            nlp, matcher = self._pipeline(language)
            return build_index(text, nlp, matcher)

        return LazyContextIndex(build)

    def extract(self, norm: NormalisedText, language: str = "other") -> EntitiesResult:
        # Patterns see digits of every script as ASCII and every dash as '-'; same offsets as norm.text.
        text = fold(norm.text)
        context = self._context(text, language)
        phones, weak_phones = _phone_spans(text, context)
        ids = _id_spans(text, context)
        # Cards are searched around the phones and IDs already found (see ``card_spans``); not around
        # weak phone shapes: an old JCB card starts with 1800, like a toll-free number.
        taken = _disjoint([(sp.start, sp.end) for sp in phones + ids])
        cards = [_Span("card", s, e, number) for s, e, number in card_spans(text, taken)]
        spans = [*_web_spans(norm.text, text), *cards, *phones, *weak_phones, *ids, *_order_spans(text, context)]
        entities = []
        for sp in _resolve(spans, text):
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


def _disjoint(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping spans merged."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _web_spans(norm_text: str, text: str) -> list[_Span]:
    """URLs, e-mails and @mentions; values are taken from the normalised (unfolded) text."""
    spans = []
    for m in URL_RE.finditer(text):
        s, e = m.start(), m.end()
        while e > s and text[e - 1] in ".,!?;:)]}״\"'":
            e -= 1
        spans.append(_Span("url", s, e, norm_text[s:e]))
    for m in EMAIL_RE.finditer(text):
        prefix = EMAIL_HEBREW_PREFIX_RE.match(text, m.start(), m.end())
        s = prefix.end() if prefix else m.start()
        spans.append(_Span("email", s, m.end(), norm_text[s : m.end()].lower()))
    for m in MENTION_RE.finditer(text):
        s, e = m.start(), m.end()
        while e > s + 1 and text[e - 1] == ".":
            e -= 1
        spans.append(_Span("mention", s, e, norm_text[s:e]))
    return spans


def _phone_spans(text: str, context: LazyContextIndex) -> tuple[list[_Span], list[_Span]]:
    """Phones of strong shapes, and of weak shapes not presented as case numbers."""
    strong_spans: list[_Span] = []
    weak_spans: list[_Span] = []
    for rx, strong in PHONE_RES:
        for m in rx.finditer(text):
            start = m.start(1)
            if not strong and _presented_as_case_number(context, start):
                continue  # "order 1-800-123-456": a weak phone shape yields to an order word
            end = _trim_to_e164(text, start, m.end(1))
            span = _Span("phone", start, end, digits_only(text[start:end]))
            (strong_spans if strong else weak_spans).append(span)
    return strong_spans, weak_spans


def _presented_as_case_number(context: LazyContextIndex, start: int) -> bool:
    return context.within(start, _CASE, 2) and not context.within(start, ("phone",), CONTEXT_WINDOW)


def _trim_to_e164(text: str, start: int, end: int) -> int:
    """E.164 numbers have at most 15 digits: a longer match ran into the next number, so trailing digit
    groups are cut off. When that leaves too few digits for a phone, the whole match stays (it is
    redacted either way: better a wide span than a readable remainder)."""
    groups = [(m.end(), len(digits_only(m.group()))) for m in _PHONE_GROUP_RE.finditer(text, start, end)]
    total = sum(n for _, n in groups)
    while total > E164_MAX_DIGITS and len(groups) > 1:
        total -= groups.pop()[1]
    return groups[-1][0] if PHONE_MIN_DIGITS <= total <= E164_MAX_DIGITS else end


def _id_spans(text: str, context: LazyContextIndex) -> list[_Span]:
    """Israeli IDs: a 9-digit number with a valid check digit, unless the text presents it as an order /
    case / reference number; 5-8 digits (leading zeros dropped) only right after an ID word."""
    spans = []
    for m in ID_RE.finditer(text):
        number = digits_only(m.group())
        presented = _id_presentation(context, m.start())
        if presented == "order":
            continue
        # "customer number 123456782" (presented == "person"): personal data wins, see the module doc.
        if (len(number) == 9 or presented == "id") and israeli_id_valid(number):
            spans.append(_Span("il_id", m.start(), m.end(), number.zfill(9)))
    return spans


def _id_presentation(context: LazyContextIndex, start: int) -> str | None:
    """What the nearest context word says a number is: "id", "person", "order" or None.

    An ID word right after an order or customer word belongs to that word: "order id" names the order's
    identifier, "customer id" the customer number (an ID only with nine digits and a valid check digit).
    """
    for dist, category in context.before(start, CONTEXT_WINDOW, stop_at_values=True):
        if category == "phone":
            continue
        if category == "id":
            owner = context.categories.get(context.token_at(start) - dist - 1)
            return owner if owner in _CASE else "id"
        return category
    return None


def _order_spans(text: str, context: LazyContextIndex) -> list[_Span]:
    spans = []
    for m in ORDER_RE.finditer(text):
        if not context.within(m.start(), _CASE, CONTEXT_WINDOW):
            continue
        s = m.start() + (1 if text[m.start()] == "#" else 0)
        spans.append(_Span("order_id", s, m.end(), text[s : m.end()].upper()))
    return spans


def _context_category(token: Any) -> str:
    # The Matcher needs a string for every token: "" means no context word.
    return _word_category(token.lower_)


@lru_cache(maxsize=65_536)  # a pure function of the word; posts repeat their words
def _word_category(lower: str) -> str:
    word = lower.strip(".:#'\"")
    if strip_hebrew_prefixes(word, PERSON_WORDS) is not None:
        return "person"
    if strip_hebrew_prefixes(word, ORDER_WORDS) is not None:
        return "order"
    if strip_hebrew_prefixes(word, PHONE_WORDS) is not None:
        return "phone"
    if word in ID_WORDS or lower in ID_WORDS or strip_hebrew_prefixes(word, ID_WORDS) is not None:
        return "id"
    return ""


def _resolve(spans: list[_Span], text: str) -> list[_Span]:
    """Non-overlapping spans, preferring types earlier in _PRIORITY, then longer spans.

    A personal-data span that overlaps only personal-data spans already kept is merged with them (a
    card search that took the tail of a phone must not leave the phone's head readable). O(n log n):
    kept spans are disjoint, so sorted by start they are sorted by end too and bisect finds conflicts.
    """
    ranked = sorted(spans, key=lambda s: (_RANK[s.type], -(s.end - s.start), s.start))
    kept: list[_Span] = []
    starts: list[int] = []
    ends: list[int] = []
    for sp in ranked:
        lo, hi = bisect_right(ends, sp.start), bisect_left(starts, sp.end)
        if lo < hi:
            if sp.type not in REDACTED_TYPES or any(k.type not in REDACTED_TYPES for k in kept[lo:hi]):
                continue
            sp = _merge([sp, *kept[lo:hi]], text)
        kept[lo:hi] = [sp]
        starts[lo:hi] = [sp.start]
        ends[lo:hi] = [sp.end]
    return kept


def _merge(spans: list[_Span], text: str) -> _Span:
    """One span covering ``spans``, of the highest-priority type among them."""
    top = min(spans, key=lambda s: _RANK[s.type])
    start, end = min(s.start for s in spans), max(s.end for s in spans)
    if (start, end) == (top.start, top.end):
        return top
    value = text[start:end].lower() if top.type == "email" else digits_only(text[start:end])
    return replace(top, start=start, end=end, value=value)


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

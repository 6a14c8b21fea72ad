"""Helpers shared by the routing and reply tests: typed stage results built by hand, fixed clocks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from triage.entities import EntityExtractor
from triage.schema import LabelSchema
from triage.text.language import LanguageIdentifier
from triage.text.normalise import normalise
from triage.types import (
    Classification,
    EntitiesResult,
    HeadPrediction,
    LanguageResult,
    Post,
    PostContext,
    RoutingDecision,
)

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "data" / "policies"
REPLIES = ROOT / "data" / "replies"
TZ = ZoneInfo("Asia/Jerusalem")
DEFAULT_LABELS = {"intent": "other", "sentiment": "neutral", "urgency": "normal"}


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, tz: ZoneInfo = TZ) -> datetime:
    """A fixed local time (Israel by default)."""
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def classification(
    schema: LabelSchema,
    *,
    confidence: float = 0.9,
    probabilities: Mapping[str, Mapping[str, float]] | None = None,
    **labels: str,
) -> Classification:
    """A classification with ``labels`` (others default) at ``confidence``; ``probabilities`` overrides
    whole rows (the top label then comes from the row). Uncertainty follows the schema's thresholds."""
    heads = {}
    for head in schema.public_heads:
        if probabilities and head.name in probabilities:
            row = {lab: float(probabilities[head.name].get(lab, 0.0)) for lab in head.labels}
        else:
            chosen = labels.get(head.name, DEFAULT_LABELS.get(head.name, head.labels[-1]))
            rest = (1.0 - confidence) / (len(head.labels) - 1)
            row = {lab: (confidence if lab == chosen else rest) for lab in head.labels}
        ranked = sorted(row.items(), key=lambda kv: -kv[1])
        top, second = ranked[0][1], ranked[1][1]
        heads[head.name] = HeadPrediction(
            label=ranked[0][0],
            confidence=round(top, 6),
            probabilities={k: round(v, 6) for k, v in row.items()},
            margin=round(top - second, 6),
            threshold=head.threshold,
            uncertain=top < head.threshold or (top - second) < head.min_margin,
        )
    return Classification(heads=heads, model_version="test")


@lru_cache(maxsize=1)
def _extractor() -> EntityExtractor:
    return EntityExtractor()


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    return LanguageIdentifier()


def prepare(text: str, lang: str | None = None) -> tuple[LanguageResult, EntitiesResult]:
    """Language (detected unless given) and entities of ``text``, as the engine computes them."""
    norm = normalise(text)
    language = _identifier().identify(norm.text)
    if lang is not None:
        language = LanguageResult(language=lang, confidence=1.0, method="test")  # type: ignore[arg-type]
    return language, _extractor().extract(norm, language.language)


def route(
    router: object,
    schema: LabelSchema,
    text: str,
    *,
    now: datetime | None = None,
    lang: str | None = None,
    channel: str = "facebook",
    metadata: Mapping[str, object] | None = None,
    brand: str | None = None,
    created_at: datetime | None = None,
    confidence: float = 0.9,
    probabilities: Mapping[str, Mapping[str, float]] | None = None,
    **labels: str,
) -> RoutingDecision:
    """Route one post with hand-set labels at a fixed time (default: Tuesday 2026-09-15 12:00 Israel)."""
    post = Post.model_validate(
        {"text": text, "channel": channel, "metadata": dict(metadata or {}), "brand": brand, "created_at": created_at}
    )
    language, entities = prepare(text, lang)
    cls = classification(schema, confidence=confidence, probabilities=probabilities, **labels)
    context = PostContext(post, normalise(text), language, entities)
    return router.route(context, cls, now or at(2026, 9, 15))  # type: ignore[attr-defined]


MINIMAL_POLICY = """\
format_version: 1
brand: acme
schema: default
timezone: Asia/Jerusalem
queues:
  care: {name: Care, languages: [he, en]}
  mod: {name: Moderation, languages: [he, en, other], hours: {around_the_clock: true}}
calendar:
  weekly: {sun: "08:00-17:00", mon: "08:00-17:00", tue: "08:00-17:00", wed: "08:00-17:00", thu: "08:00-17:00",
           fri: "08:00-13:00", sat: closed}
  holidays: israel
  erev_chag: "08:00-13:00"
sla:
  - {urgency: critical, minutes: 15, around_the_clock: true}
  - {minutes: 60}
rules:
  - id: probe
    when: {intent: complaint}
    then: {queue: mod, priority: P2, actions: [reply]}
default: {queue: care, priority: P3, actions: [reply]}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def policy_with_probe(when: str, extra: str = "") -> str:
    """MINIMAL_POLICY whose rule 'probe' has the given flow-style ``when`` (plus top-level ``extra``)."""
    text = MINIMAL_POLICY.replace("when: {intent: complaint}", f"when: {when}")
    return text + extra


MINIMAL_LIBRARY = """\
format_version: 1
library: tiny
schema: default
placeholders:
  first_name: {}
  order_id: {fallback: {he: ההזמנה, en: your order}}
  agent_name: {default: {he: הצוות, en: the team}}
  phone: {personal: true}
templates:
  - id: praise-he
    language: he
    labels: {intent: [praise]}
    text: תודה רבה[[, {first_name}]]!
    examples: [תודה, שירות מעולה, כל הכבוד]
  - id: praise-en
    language: en
    labels: {intent: [praise]}
    text: Thank you[[, {first_name}]]!
    examples: [thanks, great service, well done]
"""


def write_library(root: Path, text: str = MINIMAL_LIBRARY, kb: str | None = None, name: str = "tiny") -> Path:
    folder = root / name
    write(folder / "templates.yaml", text)
    if kb is not None:
        write(folder / "kb.yaml", kb)
    return folder

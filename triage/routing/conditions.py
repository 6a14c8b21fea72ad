"""Rule conditions: what a ``when:`` block may test, how it is checked at load, and how it matches.

Conditions inside one block AND together; the values of a list condition OR together. A condition that
matches says why in a short phrase ("intent=complaint (p=0.91)", "keyword 'חיוב'", "contains phone"),
and those phrases become the decision's reasons.

Head conditions are written with the head's own name (``intent: [complaint]``), so a policy for another
schema uses its own heads; the names are checked against the classifier's schema when the policy loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.config_source import Issue, Loc
from triage.routing.safe_regex import bounded_search, regex_problems
from triage.schema import LabelSchema, check_head_label, suggest_names
from triage.text.keywords import KeywordSet
from triage.types import CHANNELS, ENTITY_TYPES, LANGUAGES

Scalar = str | int | float | bool


def _as_list(value: Any) -> Any:
    # `language: he` and `language: [he, en]` mean the same; None stays None.
    if value is None or isinstance(value, list):
        return value
    return [value]


class WhenSpec(BaseModel):
    """A ``when:`` (or ``unless:``) block. Any other key is a head name with its label(s)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    language: list[str] | None = None
    channel: list[str] | None = None
    public: bool | None = Field(default=None, description="True: only public channels; False: only private.")
    entities_any: list[str] | None = None
    keywords_any: list[str] | None = None
    regex_any: list[str] | None = None
    fields: dict[str, Scalar | list[Scalar]] | None = None
    min_confidence: dict[str, float] | None = None
    min_probability: dict[str, dict[str, float]] | None = None

    @field_validator("language", "channel", "entities_any", "keywords_any", "regex_any", mode="before")
    @classmethod
    def _listy(cls, value: Any) -> Any:
        return _as_list(value)

    @property
    def head_conditions(self) -> dict[str, list[str]]:
        """Head name -> accepted labels, from the extra keys."""
        extra = self.model_extra or {}
        return {k: [str(x) for x in _as_list(v)] for k, v in extra.items()}

    def is_empty(self) -> bool:
        return not self.head_conditions and all(
            getattr(self, name) is None for name in type(self).model_fields
        )


CONDITION_NAMES: tuple[str, ...] = tuple(WhenSpec.model_fields)


def validate_when(when: WhenSpec, schema: LabelSchema, loc: Loc) -> list[Issue]:
    """Every name in a ``when`` block checked against the schema and the engine's vocabularies."""
    issues: list[Issue] = []
    heads = [h.name for h in schema.public_heads]
    for head, raw in (when.model_extra or {}).items():
        if head not in heads:
            issues.append(Issue((*loc, head), f"unknown condition or head {head!r} "
                                f"(conditions: {', '.join(CONDITION_NAMES)}; heads: {', '.join(heads)})"))
            continue
        values = _as_list(raw)
        if not values or not all(isinstance(v, str) for v in values):
            issues.append(Issue((*loc, head), "expected a label or a list of labels"))
            continue
        for i, label in enumerate(values):
            msg = check_head_label(schema, head, label)
            if msg:
                issues.append(Issue((*loc, head, i) if isinstance(raw, list) else (*loc, head), msg))

    def check_list(name: str, values: list[str] | None, known: Sequence[str], what: str) -> None:
        if values is None:
            return
        if not values:
            issues.append(Issue((*loc, name), "an empty list never matches; remove the condition instead"))
        for i, v in enumerate(values):
            if v not in known:
                issues.append(Issue((*loc, name, i), f"unknown {what} {v!r} {suggest_names(v, known)}"))

    check_list("language", when.language, LANGUAGES, "language")
    check_list("channel", when.channel, CHANNELS, "channel")
    check_list("entities_any", when.entities_any, ENTITY_TYPES, "entity type")
    if when.keywords_any is not None:
        if not when.keywords_any:
            issues.append(Issue((*loc, "keywords_any"), "an empty list never matches; remove the condition instead"))
        for i, kw in enumerate(when.keywords_any):
            if not kw.strip():
                issues.append(Issue((*loc, "keywords_any", i), "empty keyword"))
    issues += _regex_issues(when.regex_any or [], (*loc, "regex_any"))
    for head, p in (when.min_confidence or {}).items():
        if head not in heads:
            issues.append(Issue((*loc, "min_confidence", head), f"unknown head {head!r} {suggest_names(head, heads)}"))
        if not 0.0 <= p <= 1.0:
            issues.append(Issue((*loc, "min_confidence", head), f"probability {p} is not between 0 and 1"))
    for head, per_label in (when.min_probability or {}).items():
        if head not in heads:
            issues.append(Issue((*loc, "min_probability", head), f"unknown head {head!r} {suggest_names(head, heads)}"))
            continue
        for label, p in per_label.items():
            msg = check_head_label(schema, head, label)
            if msg:
                issues.append(Issue((*loc, "min_probability", head, label), msg))
            if not 0.0 <= p <= 1.0:
                issues.append(Issue((*loc, "min_probability", head, label), f"probability {p} is not between 0 and 1"))
    for name, value in (when.fields or {}).items():
        if isinstance(value, list) and not value:
            issues.append(Issue((*loc, "fields", name), "an empty list never matches"))
    return issues


def _regex_issues(patterns: list[str], loc: Loc) -> list[Issue]:
    """Broken patterns, and patterns that could backtrack for seconds on one post (refused at load)."""
    issues: list[Issue] = []
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern, re.IGNORECASE)
        except (re.error, RecursionError, OverflowError) as exc:
            issues.append(Issue((*loc, i), f"invalid regular expression: {exc}"))
            continue
        for problem in regex_problems(pattern):
            issues.append(Issue((*loc, i), f"unsafe regular expression {pattern!r}: {problem}"))
    return issues


@dataclass(frozen=True)
class MatchContext:
    """What a condition may look at, computed once per post."""

    text: str  # normalised and case-folded
    language: str
    channel: str
    is_public: bool
    entity_types: frozenset[str]
    labels: Mapping[str, str]
    probabilities: Mapping[str, Mapping[str, float]]
    confidences: Mapping[str, float]
    fields: Mapping[str, Scalar]


def _same(a: Scalar, b: Scalar) -> bool:
    # `vip: true` must not match `vip: 1`; numbers compare as numbers; text ignores case.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a.casefold() == b.casefold()
    return float(a) == float(b)


class Condition:
    """A compiled ``when`` block: regexes built once, ``match`` returns reasons or None."""

    def __init__(self, when: WhenSpec) -> None:
        self.when = when
        self.heads = when.head_conditions
        self._keywords = KeywordSet(list(when.keywords_any)) if when.keywords_any else None
        self._regexes = [(p, re.compile(p, re.IGNORECASE)) for p in (when.regex_any or [])]

    def _fails_fast(self, ctx: MatchContext) -> bool:
        """One of the checks that need no text search fails: most rules stop here (no reason is formatted)."""
        w = self.when
        return (any(ctx.labels.get(head) not in labels for head, labels in self.heads.items())
                or (w.language is not None and ctx.language not in w.language)
                or (w.channel is not None and ctx.channel not in w.channel)
                or (w.public is not None and ctx.is_public != w.public)
                or (w.entities_any is not None and not any(t in ctx.entity_types for t in w.entities_any)))

    def match(self, ctx: MatchContext) -> list[str] | None:
        """The phrases saying why every condition holds, or None when one does not."""
        if self._fails_fast(ctx):
            return None
        w = self.when
        why: list[str] = []
        for head, labels in self.heads.items():
            label = ctx.labels.get(head)
            if label not in labels:
                return None
            why.append(f"{head}={label} (p={ctx.confidences.get(head, 0.0):.2f})")
        for head, floor in (w.min_confidence or {}).items():
            conf = ctx.confidences.get(head, 0.0)
            if conf < floor:
                return None
            why.append(f"{head} confidence {conf:.2f} ≥ {floor:.2f}")
        for head, per_label in (w.min_probability or {}).items():
            for label, floor in per_label.items():
                p = ctx.probabilities.get(head, {}).get(label, 0.0)
                if p < floor:
                    return None
                why.append(f"P({head}={label})={p:.2f} ≥ {floor:.2f}")
        if w.language is not None:
            if ctx.language not in w.language:
                return None
            why.append(f"language={ctx.language}")
        if w.channel is not None:
            if ctx.channel not in w.channel:
                return None
            why.append(f"channel={ctx.channel}")
        if w.public is not None:
            if ctx.is_public != w.public:
                return None
            why.append("public channel" if ctx.is_public else "private channel")
        if w.entities_any is not None:
            found = [t for t in w.entities_any if t in ctx.entity_types]
            if not found:
                return None
            why.append("contains " + ", ".join(found))
        if self._keywords is not None:
            keyword = self._keywords.find(ctx.text)
            if keyword is None:
                return None
            why.append(f"keyword {keyword[0]!r}")
        if self._regexes:
            hit = next((p for p, rx in self._regexes if bounded_search(rx, ctx.text)), None)
            if hit is None:
                return None
            why.append(f"pattern '{hit}'")
        for name, expected in (w.fields or {}).items():
            if name not in ctx.fields:
                return None
            options = expected if isinstance(expected, list) else [expected]
            if not any(_same(ctx.fields[name], o) for o in options):
                return None
            why.append(f"{name}={ctx.fields[name]!r}")
        return why

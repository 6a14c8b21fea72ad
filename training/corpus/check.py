"""``triage data check``: the corpus is valid, or the check fails loudly saying why.

Checks: every row parses and fits the schema; labels are known; entity spans sit at their offsets,
pass their validators and equal what the entity stage computes now; ids and texts are unique; no text
(up to case, punctuation, digits) is in two splits; the counts the datasheet promises are met.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from training.corpus.records import SPLITS, CorpusRecord, dedup_key, read_jsonl
from triage.entities import EntityExtractor
from triage.entities.validators import card_valid, digits_only, israeli_id_valid
from triage.errors import InputError
from triage.schema import LabelSchema
from triage.text.normalise import normalise


@dataclass(frozen=True)
class Minimums:
    """What the corpus promises (issue #4)."""

    total: int = 5000
    per_language: tuple[tuple[str, int], ...] = (("he", 3000), ("en", 1500), ("ar", 100), ("ru", 100))
    mixed: int = 300
    per_intent: int = 300
    per_urgency: tuple[tuple[str, int], ...] = (("critical", 300), ("high", 600))


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Counter] = field(default_factory=dict)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_corpus(corpus_dir: Path, schema: LabelSchema, minimums: Minimums | None = None) -> CheckReport:
    report = CheckReport()
    extractor = EntityExtractor()
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    counts: dict[str, Counter] = {"language": Counter(), "intent": Counter(), "sentiment": Counter(), "urgency": Counter(), "mixed": Counter()}

    for split in SPLITS:
        path = corpus_dir / f"{split}.jsonl"
        if not path.is_file():
            report.problems.append(f"{path} is missing")
            continue
        try:
            lines = list(read_jsonl(path))
        except InputError as exc:
            report.problems.append(str(exc))
            continue
        for lineno, obj in lines:
            where = f"{path.name}:{lineno}"
            try:
                rec = CorpusRecord.model_validate(obj)
            except ValidationError as exc:
                first = exc.errors()[0]
                report.problems.append(f"{where}: {'.'.join(map(str, first['loc']))}: {first['msg']}")
                continue
            report.rows += 1
            for head in ("intent", "sentiment", "urgency"):
                if getattr(rec, head) not in schema.head(head).labels:
                    report.problems.append(f"{where}: unknown {head} label {getattr(rec, head)!r}")
            if rec.id in ids:
                report.problems.append(f"{where}: id {rec.id} also in {ids[rec.id]}")
            ids[rec.id] = where
            key = dedup_key(rec.text)
            if key in keys:
                kind = "leaks across splits" if keys[key].split(".")[0] != split else "is a duplicate"
                report.problems.append(f"{where}: text {kind} (also {keys[key]}): {rec.text[:50]!r}")
            keys[key] = where
            report.problems += _check_spans(where, rec, extractor)
            counts["language"][rec.language] += 1
            counts["mixed"][str(rec.mixed)] += 1
            for head in ("intent", "sentiment", "urgency"):
                counts[head][getattr(rec, head)] += 1
    report.counts = counts
    if minimums is not None:
        report.problems += _check_minimums(report, schema, minimums)
    return report


def _check_spans(where: str, rec: CorpusRecord, extractor: EntityExtractor) -> list[str]:
    problems = []
    for span in rec.entities:
        if rec.text[span.start : span.end] != span.text:
            problems.append(f"{where}: {span.type} span {span.start}:{span.end} is not {span.text!r} in the text")
        number = digits_only(span.text)
        if span.type == "il_id" and not israeli_id_valid(number):
            problems.append(f"{where}: il_id {span.text!r} fails the check digit")
        if span.type == "card" and not card_valid(number):
            problems.append(f"{where}: card span fails the Luhn check")
    computed = [
        (e.type, e.start, e.end, e.text) for e in extractor.extract(normalise(rec.text), rec.language).entities
    ]
    stored = [(s.type, s.start, s.end, s.text) for s in rec.entities]
    if computed != stored:
        problems.append(f"{where}: stored entities differ from the entity stage's ({stored} != {computed}); rebuild the corpus")
    return problems


def _check_minimums(report: CheckReport, schema: LabelSchema, minimums: Minimums) -> list[str]:
    c = report.counts
    problems = []
    if report.rows < minimums.total:
        problems.append(f"corpus has {report.rows} posts; at least {minimums.total} are required")
    for lang, n in minimums.per_language:
        if c["language"][lang] < n:
            problems.append(f"language {lang}: {c['language'][lang]} posts, at least {n} required")
    if c["mixed"]["True"] < minimums.mixed:
        problems.append(f"mixed Hebrew-English: {c['mixed']['True']} posts, at least {minimums.mixed} required")
    for label in schema.head("intent").labels:
        if c["intent"][label] < minimums.per_intent:
            problems.append(f"intent {label}: {c['intent'][label]} posts, at least {minimums.per_intent} required")
    for label, n in minimums.per_urgency:
        if c["urgency"][label] < n:
            problems.append(f"urgency {label}: {c['urgency'][label]} posts, at least {n} required")
    for label in schema.head("sentiment").labels:
        if c["sentiment"][label] < minimums.per_intent:
            problems.append(f"sentiment {label}: {c['sentiment'][label]} posts, at least {minimums.per_intent} required")
    return problems

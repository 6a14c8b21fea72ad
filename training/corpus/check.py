"""``triage data check``: the corpus is valid, or the check fails loudly saying why.

Checks: every row parses and fits the schema; labels are known; entity spans sit at their offsets,
pass their validators and equal what the entity stage computes now; ids and texts are unique; no text
(up to case, punctuation, digits) and no scenario group is in two splits; translit rows are Hebrew; the
counts the datasheet promises are met.

The labeled language is not compared with the language detector. Were it ever, translit rows (Hebrew in
Latin letters, ``language`` ``he``, no Hebrew letter) must be exempt: the detector calls them English.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from training.corpus.records import KINDS, SPLITS, CorpusRecord, dedup_key, is_v2, read_jsonl, words
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
    # Corpus v2 (batches v2_*): posts, and the share of <= 5-word posts in every intent.
    v2_total: int = 1000
    v2_terse_words: int = 5
    v2_terse_share: float = 0.25
    v2_per_kind: int = 10
    v2_translit: int = 30


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Counter] = field(default_factory=dict)
    rows: int = 0
    # (intent, words, kind, translit) of every v2 row
    v2_rows: list[tuple[str, int, str | None, bool]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Seen:
    """Where each id, text key and scenario group was first seen (``split.jsonl:line``)."""

    ids: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)


def check_corpus(corpus_dir: Path, schema: LabelSchema, minimums: Minimums | None = None) -> CheckReport:
    report = CheckReport()
    extractor = EntityExtractor()
    seen = _Seen()
    counts: dict[str, Counter] = {"language": Counter(), "intent": Counter(), "sentiment": Counter(),
                                  "urgency": Counter(), "mixed": Counter()}

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
            report.problems += _check_row(where, rec, schema, seen)
            report.problems += _check_spans(where, rec, extractor)
            counts["language"][rec.language] += 1
            counts["mixed"][str(rec.mixed)] += 1
            for head in ("intent", "sentiment", "urgency"):
                counts[head][getattr(rec, head)] += 1
            if is_v2(rec.batch):
                report.v2_rows.append((rec.intent, len(words(rec.text)), rec.kind, rec.translit))
    report.counts = counts
    if minimums is not None:
        report.problems += _check_minimums(report, schema, minimums)
        report.problems += _check_v2_minimums(report, schema, minimums)
    return report


def _check_row(where: str, rec: CorpusRecord, schema: LabelSchema, seen: _Seen) -> list[str]:
    problems = []
    for head in ("intent", "sentiment", "urgency"):
        if getattr(rec, head) not in schema.head(head).labels:
            problems.append(f"{where}: unknown {head} label {getattr(rec, head)!r}")
    if rec.id in seen.ids:
        problems.append(f"{where}: id {rec.id} also in {seen.ids[rec.id]}")
    seen.ids[rec.id] = where
    key = dedup_key(rec.text)
    if key in seen.keys:
        kind = "leaks across splits" if _split_of(seen.keys[key]) != _split_of(where) else "is a duplicate"
        problems.append(f"{where}: text {kind} (also {seen.keys[key]}): {rec.text[:50]!r}")
    seen.keys[key] = where
    first = seen.groups.setdefault(rec.group, where)
    if _split_of(first) != _split_of(where):
        problems.append(f"{where}: scenario {rec.group!r} leaks across splits (also {first})")
    if rec.translit and rec.language != "he":
        problems.append(f"{where}: a translit post is Hebrew in Latin letters, language must be 'he' not "
                        f"{rec.language!r}")
    return problems


def _split_of(where: str) -> str:
    return where.split(".")[0]


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
        problems.append(f"{where}: stored entities differ from the entity stage's ({stored} != {computed}); rebuild "
                        "the corpus")
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
            problems.append(
                f"sentiment {label}: {c['sentiment'][label]} posts, at least {minimums.per_intent} required"
            )
    return problems


def _check_v2_minimums(report: CheckReport, schema: LabelSchema, minimums: Minimums) -> list[str]:
    """What corpus v2 promises: enough v2 posts, >= 25 % of them terse in every intent, every kind written."""
    v2 = report.v2_rows
    problems = []
    if len(v2) < minimums.v2_total:
        problems.append(f"corpus v2 has {len(v2)} posts; at least {minimums.v2_total} are required")
    for label in schema.head("intent").labels:
        lengths = [n for intent, n, _, _ in v2 if intent == label]
        share = sum(n <= minimums.v2_terse_words for n in lengths) / len(lengths) if lengths else 0.0
        if share < minimums.v2_terse_share:
            problems.append(f"v2 intent {label}: {share:.0%} of posts have <= {minimums.v2_terse_words} words, "
                            f"at least {minimums.v2_terse_share:.0%} required")
    kinds = Counter(kind for _, _, kind, _ in v2)
    for kind in KINDS:
        if kinds[kind] < minimums.v2_per_kind:
            problems.append(f"v2 kind {kind}: {kinds[kind]} posts, at least {minimums.v2_per_kind} required")
    translit = sum(t for _, _, _, t in v2)
    if translit < minimums.v2_translit:
        problems.append(f"v2 translit posts: {translit}, at least {minimums.v2_translit} required")
    return problems

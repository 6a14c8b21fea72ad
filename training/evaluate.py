"""``evaluate(model_dir, data_path)``: metrics JSON, a Markdown report and a confusion matrix per head.

Any labeled JSONL / CSV / TSV goes in (columns configurable; the public datasets of ``../shared`` are
recognised by their folder name). The model runs through the real runtime
(``triage.classify.onnx_model.OnnxClassifier``) on the texts normalised as the engine normalises them.
Per head: accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix and the expected
calibration error — overall and per language when the file has languages. Beside it, a TF-IDF
(character 2–5-grams + word 1–2-grams) + logistic-regression baseline trained on the same training
split (``baseline_train``, or the ``train`` file beside a ``test`` file) is reported side by side.

Real text first: :func:`evaluate_real` scores a model folder on the project's labeled real posts
(``data/real``, split by brand, texts from ``../shared/datasets``) per language and head, adds macro-F1
over the classes with at least ``MIN_CLASS_EXAMPLES`` test posts, and runs the *whole engine* (default brand
policy) to count silent errors: posts wrong on any head that no person is asked to check. Export, the
``triage evaluate --real`` command and ``bench/accuracy`` all call it, and all judge it against the same
bars (:data:`ISSUE_BARS`, :func:`check_bars`). :class:`Metrics` is what an exported ``metrics.json`` holds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from training.metrics import fmt, head_metrics
from training.sources import Example, LabeledRow, read_labeled_file
from triage.errors import InputError
from triage.schema import HeadSpec, LabelSchema

log = logging.getLogger(__name__)

MIN_LANGUAGE_ROWS = 1  # every language present is reported; the report shows n beside each figure


# Evaluation core ----------------------------------------------------------------------------------------------


def examples_to_rows(examples: Sequence[Example], heads: Sequence[HeadSpec]) -> list[LabeledRow]:
    by_name = {h.name: h for h in heads}
    return [LabeledRow(e.text, {h: by_name[h].labels[i] for h, i in e.labels.items() if h in by_name}, e.language)
            for e in examples]


def _score(labels: list[str], rows: Sequence[LabeledRow], head: str, probs: np.ndarray) -> dict[str, Any]:
    index = {lab: i for i, lab in enumerate(labels)}
    sel = [i for i, r in enumerate(rows) if r.labels.get(head) in index]
    y = [index[rows[i].labels[head]] for i in sel]
    out: dict[str, Any] = {"all": head_metrics(labels, y, probs[sel])}
    languages = sorted({rows[i].language or "unknown" for i in sel})
    if len(languages) > 1:
        out["by_language"] = {}
        for lang in languages:
            part = [k for k, i in enumerate(sel) if (rows[i].language or "unknown") == lang]
            if len(part) >= MIN_LANGUAGE_ROWS:
                out["by_language"][lang] = head_metrics(labels, [y[k] for k in part], probs[sel][part])
    return out


def labeled_heads(rows: Sequence[LabeledRow], schema: LabelSchema) -> list[HeadSpec]:
    """Schema heads (public ones) with at least one valid label in ``rows``."""
    return [h for h in schema.public_heads if any(r.labels.get(h.name) in h.labels for r in rows)]


def skipped_labels(rows: Sequence[LabeledRow], heads: Sequence[HeadSpec]) -> dict[str, dict[str, int]]:
    """Labels in the data that the head does not have (not scored), with counts."""
    out: dict[str, dict[str, int]] = {}
    for h in heads:
        for r in rows:
            v = r.labels.get(h.name)
            if v is not None and v not in h.labels:
                out.setdefault(h.name, {}).setdefault(v, 0)
                out[h.name][v] += 1
    return out


def model_metrics(classifier: Any, rows: Sequence[LabeledRow], heads: Sequence[HeadSpec]) -> dict[str, Any]:
    probs = classifier.predict([r.text for r in rows]).probabilities
    return {h.name: _score(h.labels, rows, h.name, probs[h.name]) for h in heads}


def baseline_metrics(train: Sequence[LabeledRow], test: Sequence[LabeledRow], heads: Sequence[HeadSpec],
                     seed: int = 0) -> dict[str, Any]:
    """TF-IDF (char_wb 2–5 + word 1–2, sublinear tf) + logistic regression (balanced), one per head."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    out = {}
    for h in heads:
        index = {lab: i for i, lab in enumerate(h.labels)}
        tr = [r for r in train if r.labels.get(h.name) in index]
        classes = sorted({index[r.labels[h.name]] for r in tr})
        if len(classes) < 2:
            continue
        pipe = make_pipeline(
            make_union(
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
                TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),
            ),
            LogisticRegression(C=10.0, max_iter=3000, class_weight="balanced", random_state=seed),
        )
        pipe.fit([r.text for r in tr], [index[r.labels[h.name]] for r in tr])
        p = pipe.predict_proba([r.text for r in test])
        probs = np.zeros((len(test), len(h.labels)))
        probs[:, pipe.classes_] = p
        out[h.name] = _score(h.labels, test, h.name, probs)
        out[h.name]["train_rows"] = len(tr)
    return out


def evaluate_test_sets(model_dir: Path, data: Any, schema: LabelSchema, threads: int = 2,
                       skip: Sequence[str] = ()) -> dict[str, Any]:
    """Every test split of a training run's sources (but ``skip``): the model and the baseline trained on its
    train split."""
    from triage.classify.onnx_model import OnnxClassifier

    clf = OnnxClassifier(model_dir, threads=threads, batch_size=64)
    results = {}
    for source, examples in data.test.items():
        if source in skip:
            continue
        rows = examples_to_rows(examples, schema.heads)
        heads = labeled_heads(rows, schema)
        if not heads:
            continue
        train_rows = examples_to_rows(data.train.get(source, []), schema.heads)
        scored = model_metrics(clf, rows, heads)
        results[source] = {"n": len(rows), "model": scored,
                           "baseline": baseline_metrics(train_rows, rows, heads) if train_rows else {}}
        log.info("test %s: %s", source, {h: round(m["all"]["macro_f1"], 4) for h, m in scored.items()})
    return results


# Real posts ---------------------------------------------------------------------------------------------------

# Macro-F1 over classes with at least this many test posts: a class with 3 posts (English purchase leads)
# moves plain macro-F1 by whole points per post, so the bar is set on the classes that can be measured.
MIN_CLASS_EXAMPLES = 10
REAL_LANGUAGES = ("he", "en")
# The channel each real source was written on, so that the policy's channel rules (a public review is
# answered first) apply as they would in production.
REAL_CHANNELS = {"he-bank-app-reviews": "review", "en-complaints-severity": "twitter",
                 "en-customer-care-threads": "twitter", "en-youtube-spam": "web"}
# Routing reads the clock (opening hours, SLAs): a fixed Tuesday 10:00 in Israel gives every run the same answer.
ROUTING_NOW = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


def language_order(language: str) -> tuple[int, str]:
    """Hebrew, then English, then any other language alphabetically: the order every report uses."""
    return (REAL_LANGUAGES.index(language) if language in REAL_LANGUAGES else len(REAL_LANGUAGES), language)


@dataclass
class RealSplit:
    """One split of the labeled real posts: rows (text, labels, language) and the channel each was written on."""

    split: str
    rows: list[LabeledRow]
    channels: list[str]


def project_paths() -> tuple[Path, Path, Path]:
    """(data/real, ../shared/datasets, data/corpus) of this checkout."""
    from triage.resources import project_home

    home = project_home()
    return home / "data" / "real", home.parent / "shared" / "datasets", home / "data" / "corpus"


def read_real_split(split: str = "test", folder: Path | None = None, texts: Path | None = None) -> RealSplit:
    """The labeled real posts of one split (test = brands training never saw), cleaned as the engine cleans."""
    from training.config import SourceConfig
    from training.sources import read_source_rows

    if folder is None or texts is None:
        real, shared, _ = project_paths()
        folder, texts = folder or real, texts or shared
    source = SourceConfig(name="real", kind="real_labels", path=folder, texts=texts,
                          splits=[split])  # type: ignore[list-item]
    raw = read_source_rows(source)
    return RealSplit(split, [LabeledRow(r.text, dict(r.signals), r.language) for r in raw],
                     [REAL_CHANNELS.get(str(r.meta.get("dataset")), "web") for r in raw])


def real_split_from_examples(split: str, examples: Sequence[Example], heads: Sequence[HeadSpec]) -> RealSplit:
    """A training run's real examples (label ids) as a :class:`RealSplit` (label strings)."""
    return RealSplit(split, examples_to_rows(examples, heads),
                     [REAL_CHANNELS.get(str(e.meta.get("dataset")), "web") for e in examples])


def written_train_rows(corpus_dir: Path, head_names: Sequence[str]) -> list[LabeledRow]:
    """The written corpus's training split (for the TF-IDF baseline), or nothing when it is absent."""
    path = Path(corpus_dir) / "train.jsonl"
    return read_labeled_file(path, head_names=head_names) if path.is_file() and path.stat().st_size else []


def frequent_macro_f1(group: dict[str, Any], min_examples: int = MIN_CLASS_EXAMPLES) -> tuple[float | None, list[str]]:
    """Mean F1 of the classes with at least ``min_examples`` gold posts (= f1_score(labels=those, 'macro'))."""
    frequent = [lab for lab, c in group["per_class"].items() if c["support"] >= min_examples]
    value = float(np.mean([group["per_class"][lab]["f1"] for lab in frequent])) if frequent else None
    return value, frequent


def add_frequent_macro_f1(per_head: dict[str, Any], min_examples: int = MIN_CLASS_EXAMPLES) -> None:
    """Add ``macro_f1_frequent`` and ``frequent_classes`` to every language group of every head, in place."""
    for m in per_head.values():
        for group in (m["all"], *m.get("by_language", {}).values()):
            group["macro_f1_frequent"], group["frequent_classes"] = frequent_macro_f1(group, min_examples)


def _with_languages(per_head: dict[str, Any], rows: Sequence[LabeledRow]) -> None:
    """``_score`` splits by language only when there are several; real figures are always per language."""
    languages = {r.language or "unknown" for r in rows}
    if len(languages) == 1:
        (language,) = languages
        for m in per_head.values():
            m.setdefault("by_language", {language: m["all"]})


class SilentErrors(BaseModel):
    """Of ``n`` posts: how many go to a person, and how many are wrong on some head with nobody checking."""

    n: int
    to_person: int
    wrong_any_head: int
    silent_errors: int
    human_share: float | None
    silent_error_rate: float | None
    automated_all_heads_right: float | None = Field(
        default=None, description="Share of the posts not sent to a person that are right on every head.")
    decided_by: str


@dataclass
class Decisions:
    """Per post: the labels that ship and whether a person is asked to check."""

    labels: list[dict[str, str]]
    needs_human: list[bool]
    decided_by: str


def engine_decisions(engine: Any, split: RealSplit, batch_size: int = 64) -> Decisions:
    """The full engine's labels and ``routing.needs_human`` (the decision production makes) per post."""
    from triage.types import Post

    if engine.router is None:
        return threshold_decisions(engine.classifier, split)
    labels: list[dict[str, str]] = []
    needs: list[bool] = []
    for i in range(0, len(split.rows), batch_size):
        posts = [Post(text=r.text, channel=c)  # type: ignore[arg-type]
                 for r, c in zip(split.rows[i:i + batch_size], split.channels[i:i + batch_size], strict=True)]
        for res in engine.triage_batch(posts, now=ROUTING_NOW):
            labels.append(dict(res.labels))
            needs.append(bool(res.routing and res.routing.needs_human))
    return Decisions(labels, needs, "engine routing.needs_human, default brand policy")


def threshold_decisions(classifier: Any, split: RealSplit) -> Decisions:
    """Without a routing policy: a person checks a post when any head is below its threshold or margin."""
    from triage.classify.base import to_classifications

    out = to_classifications(classifier, classifier.predict([r.text for r in split.rows]))
    return Decisions([{h: p.label for h, p in c.heads.items()} for c in out],
                     [any(p.uncertain for p in c.heads.values()) for c in out],
                     "model thresholds only (any head uncertain); no routing policy was used")


def silent_errors(rows: Sequence[LabeledRow], decisions: Decisions,
                  heads: Sequence[HeadSpec]) -> dict[str, SilentErrors]:
    """Per language and ``all``: share sent to a person and share wrong on any labeled head but not sent."""
    wrong = np.array([any(r.labels.get(h.name) in h.labels and d.get(h.name) != r.labels[h.name] for h in heads)
                      for r, d in zip(rows, decisions.labels, strict=True)], dtype=bool)
    human = np.asarray(decisions.needs_human, dtype=bool)
    languages = np.array([r.language or "unknown" for r in rows])
    groups = {"all": np.ones(len(rows), dtype=bool)} | {lang: languages == lang for lang in sorted(set(languages))}
    out = {}
    for name, sel in groups.items():
        n, auto = int(sel.sum()), sel & ~human
        out[name] = SilentErrors(
            n=n, to_person=int((sel & human).sum()), wrong_any_head=int((sel & wrong).sum()),
            silent_errors=int((auto & wrong).sum()), human_share=float((sel & human).sum() / n) if n else None,
            silent_error_rate=float((auto & wrong).sum() / n) if n else None,
            automated_all_heads_right=float(1 - wrong[auto].mean()) if auto.any() else None,
            decided_by=decisions.decided_by)
    return out


class RealEvaluation(BaseModel):
    """A model on one split of the labeled real posts: through the runtime per head, and through the engine."""

    model_config = ConfigDict(extra="allow")

    split: str
    n: int
    n_by_language: dict[str, int]
    min_class_examples: int = MIN_CLASS_EXAMPLES
    model: dict[str, Any] = Field(description="head -> metrics (all, by_language), with macro_f1_frequent")
    baseline: dict[str, Any] = Field(default_factory=dict)
    baseline_note: str = ""
    silent: dict[str, SilentErrors] = Field(default_factory=dict, description="language or 'all' -> silent errors")


def evaluate_real(model_dir: Path, split: RealSplit, *, threads: int = 2, engine: bool = True,
                  baseline_train: Sequence[LabeledRow] | None = None) -> RealEvaluation:
    """The model folder on a real split: runtime metrics per language and head, then silent errors.

    ``engine``: run the whole engine (default brand policy) for ``needs_human``; False uses the model's
    thresholds only (fast, for smoke runs). ``baseline_train``: rows for the TF-IDF baseline, if any.
    """
    from triage.classify.onnx_model import OnnxClassifier
    from triage.loading import load_engine

    # The engine's classifier is the exported runtime itself: one model load serves both passes.
    eng = load_engine(Path(model_dir), threads=threads, replies=False) if engine else None
    clf = eng.classifier if eng is not None else OnnxClassifier(Path(model_dir), threads=threads, batch_size=64)
    heads = labeled_heads(split.rows, clf.schema)
    model = model_metrics(clf, split.rows, heads)
    _with_languages(model, split.rows)
    add_frequent_macro_f1(model)
    decisions = engine_decisions(eng, split) if eng is not None else threshold_decisions(clf, split)
    languages = [r.language or "unknown" for r in split.rows]
    result = RealEvaluation(split=split.split, n=len(split.rows),
                            n_by_language={lang: languages.count(lang) for lang in sorted(set(languages))},
                            model=model, silent=silent_errors(split.rows, decisions, heads))
    if baseline_train:
        result.baseline = baseline_metrics(baseline_train, split.rows, heads)
        _with_languages(result.baseline, split.rows)
        add_frequent_macro_f1(result.baseline)
        result.baseline_note = f"TF-IDF (char 2–5 + word 1–2) + logistic regression on {len(baseline_train)} rows"
    log.info("real %s: %s; silent %s", split.split,
             {h: round(m["all"]["accuracy"], 4) for h, m in model.items()},
             {k: round(v.silent_error_rate or 0, 4) for k, v in result.silent.items()})
    return result


# Bars: the quality targets that export, the card and the bench check ------------------------------------------------


class Bar(BaseModel):
    """A quality bar: one figure of a test set (``role``), per language, at least or at most ``limit``.

    Roles: ``real`` (labeled real posts, test brands unseen), ``written`` (the corpus test split),
    ``he_fb`` (Hebrew Facebook sentiment test_gold), or a recipe's own test source name. Metrics: a head's
    ``accuracy``, ``macro_f1``, ``macro_f1_frequent``, ``recall:LABEL``; ``drop_points`` (the previous model's
    macro-F1 minus this one's, in points); the engine's ``silent_error_rate`` and ``human_share`` (no head).
    """

    model_config = ConfigDict(frozen=True)

    role: str
    metric: str
    limit: float
    head: str | None = None
    language: str | None = None  # None: every row
    at_most: bool = False

    @property
    def key(self) -> tuple[str, str | None, str, str | None]:
        return self.role, self.head, self.metric, self.language

    def label(self) -> str:
        what = {"macro_f1_frequent": f"macro-F1 (classes ≥ {MIN_CLASS_EXAMPLES} posts)", "macro_f1": "macro-F1",
                "drop_points": "macro-F1 drop vs previous model", "silent_error_rate": "silent-error rate",
                "human_share": "sent to a person"}.get(self.metric, self.metric.replace("recall:", "recall of "))
        return " ".join(x for x in (self.role, self.head, what) if x)

    def goal(self) -> str:
        unit = " points" if self.metric == "drop_points" else ""
        return f"{'≤' if self.at_most else '≥'} {self.limit:.2f}{unit}"


def _per_language(role: str, head: str | None, metric: str, limit: float, at_most: bool = False,
                  languages: Sequence[str | None] = REAL_LANGUAGES) -> list[Bar]:
    return [Bar(role=role, head=head, metric=metric, limit=limit, at_most=at_most, language=lang) for lang in languages]


# The issue "Real posts: a model that is right on what customers actually write", item 4. They live here, not
# in the recipe, because a recipe Target cannot express macro-F1 over frequent classes, the engine's silent
# errors or a comparison with the previous model.
ISSUE_BARS: tuple[Bar, ...] = (
    *_per_language("real", "intent", "accuracy", 0.85),
    *_per_language("real", "intent", "macro_f1_frequent", 0.80),
    *_per_language("real", "sentiment", "macro_f1", 0.85),
    *_per_language("real", "urgency", "accuracy", 0.75),
    *_per_language("real", None, "silent_error_rate", 0.10, at_most=True, languages=(*REAL_LANGUAGES, None)),
    *_per_language("real", None, "human_share", 0.30, at_most=True, languages=(*REAL_LANGUAGES, None)),
    *_per_language("written", "urgency", "recall:critical", 0.95),
    Bar(role="real", head="urgency", metric="recall:critical", limit=0.95),
    Bar(role="he_fb", head="sentiment", metric="accuracy", limit=0.90),
    Bar(role="he_fb", head="sentiment", metric="macro_f1", limit=0.80),
    *[Bar(role="written", head=h, metric="drop_points", limit=2.0, at_most=True)
      for h in ("intent", "sentiment", "urgency")],
)
# A recipe source kind -> the role its test split plays in the bars.
ROLE_OF_KIND = {"real_labels": "real", "corpus": "written", "he_sentiment_facebook": "he_fb"}


def source_roles(sources: Sequence[Any]) -> dict[str, str]:
    """Recipe source name -> bar role, for sources (SourceConfig objects or dicts) whose kind has one."""
    out = {}
    for s in sources:
        name, kind = (s["name"], s["kind"]) if isinstance(s, dict) else (s.name, s.kind)
        if kind in ROLE_OF_KIND:
            out[name] = ROLE_OF_KIND[kind]
    return out


def all_bars(targets: Sequence[Any] = (), roles: dict[str, str] | None = None, *, issue: bool = True) -> list[Bar]:
    """The issue's bars (``issue``), then the recipe's own targets (``export.targets``) not already covered."""
    from training.config import Target

    bars = list(ISSUE_BARS) if issue else []
    seen = {b.key for b in bars}
    for raw in targets:  # Target objects (a loaded recipe) or dicts (a model's training_config.json)
        t = raw if isinstance(raw, Target) else Target.model_validate(raw)
        role = (roles or {}).get(t.source, t.source)
        languages: list[str | None] = [*t.languages] or [None]  # none listed: every row
        for lang in languages:
            bar = Bar(role=role, head=t.head, metric=t.metric, limit=t.min, language=lang)
            if bar.key not in seen:
                bars.append(bar)
                seen.add(bar.key)
    return bars


@dataclass
class EvalView:
    """What bars are checked against: role -> head -> metrics, the previous model's too, and silent errors."""

    tests: dict[str, dict[str, Any]]
    silent: dict[str, SilentErrors]
    previous: dict[str, dict[str, Any]]


@dataclass
class BarCheck:
    bar: Bar
    value: float | None
    n: int
    met: bool | None


def _group(per_head: dict[str, Any] | None, head: str | None, language: str | None) -> dict[str, Any] | None:
    m = (per_head or {}).get(head or "")
    if not m:
        return None
    return m["all"] if language is None else m.get("by_language", {}).get(language)


def bar_value(bar: Bar, view: EvalView) -> tuple[float | None, int]:
    """The measured figure of ``bar`` and the number of posts behind it (None, 0 when not measured)."""
    if bar.metric in ("silent_error_rate", "human_share"):
        s = view.silent.get(bar.language or "all")
        return (getattr(s, bar.metric), s.n) if s else (None, 0)
    g = _group(view.tests.get(bar.role), bar.head, bar.language)
    if g is None:
        return None, 0
    if bar.metric == "drop_points":
        p = _group(view.previous.get(bar.role), bar.head, bar.language)
        return (round(100 * (p["macro_f1"] - g["macro_f1"]), 2), g["n"]) if p else (None, 0)
    if bar.metric.startswith("recall:"):
        c = g["per_class"].get(bar.metric.split(":", 1)[1])
        return (c["recall"], c["support"]) if c and c["support"] else (None, 0)
    value = g.get(bar.metric)
    return (None, 0) if value is None or value != value else (float(value), g["n"])  # value != value: NaN


def check_bars(bars: Sequence[Bar], view: EvalView) -> list[BarCheck]:
    out = []
    for bar in bars:
        value, n = bar_value(bar, view)
        met = None if value is None else (value <= bar.limit if bar.at_most else value >= bar.limit)
        out.append(BarCheck(bar, value, n, met))
    return out


def test_split_changed(model_dir: Path, test_file: Path) -> bool | None:
    """Whether ``test_file`` differs from the file of that name the model was trained beside (None: unknown).

    A rebuilt corpus re-draws its splits, so a model trained on the old one may have trained on posts that are
    now in the test split: its figures there are then too good, and a comparison with it is unfair.
    """
    from triage.artifact import sha256_file

    try:
        manifest = json.loads((Path(model_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    recorded = (manifest.get("training") or {}).get("data_sha256") or {}
    suffix = f"{Path(test_file).parent.name}/{Path(test_file).name}"
    hashes = [h for path, h in recorded.items() if str(path).replace("\\", "/").endswith(suffix)]
    if not hashes or not Path(test_file).is_file():
        return None
    return sha256_file(Path(test_file)) not in hashes


# What metrics.json holds ------------------------------------------------------------------------------------------


class PreviousModel(BaseModel):
    """The model an export replaces, scored again on this run's test splits (the same rows)."""

    model: str
    dir: str
    test: dict[str, Any] = Field(description="source -> {n, model: head -> metrics}")
    test_split_changed: list[str] = Field(
        default_factory=list, description="Sources whose test file differs from the one this model was trained beside.")


class Metrics(BaseModel):
    """An exported model's ``metrics.json``.

    Readers: the model card (training.card), bench/accuracy, and ``triage.artifact.metrics_summary``, which
    serves only scalars one level deep: hence the flat ``real_test`` summary. Unknown keys are kept, so
    older files load.
    """

    model_config = ConfigDict(extra="allow")

    model: str
    kind: str
    real_test: dict[str, float | int | str | None] = Field(default_factory=dict)
    calibration: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dev: dict[str, Any] = Field(default_factory=dict,
                                description="weights (fp32/int8) -> dev source -> head -> figures")
    dev_torch: dict[str, Any] | None = None
    onnx: dict[str, Any] = Field(default_factory=dict)
    teacher_dev: dict[str, Any] | None = None
    delta_points_vs_teacher: dict[str, Any] | None = None
    within_tolerance: bool | None = None
    examples_per_second: float | None = None
    train_seconds: float | None = None
    best_epoch: int | None = None
    parameters: int | None = None
    teacher: dict[str, Any] | None = None
    real: RealEvaluation | None = None
    previous: PreviousModel | None = None
    test: dict[str, Any] | None = None
    speed: list[dict[str, Any]] | None = None


def real_summary(real: RealEvaluation) -> dict[str, float | int | str | None]:
    """Scalars of the real test split for ``real_test`` (what the service shows about its model)."""
    out: dict[str, float | int | str | None] = {"split": real.split, "n": real.n}
    for head, m in real.model.items():
        for lang, g in m.get("by_language", {}).items():
            out[f"{head}_accuracy_{lang}"] = round(g["accuracy"], 4)
            out[f"{head}_macro_f1_{lang}"] = round(g["macro_f1"], 4)
    for lang, s in real.silent.items():
        out[f"silent_error_rate_{lang}"] = None if s.silent_error_rate is None else round(s.silent_error_rate, 4)
        out[f"human_share_{lang}"] = None if s.human_share is None else round(s.human_share, 4)
    return out


def runtime_kernels(onnx_path: Path) -> dict[str, Any]:
    """The operators onnxruntime actually runs for ``onnx_path`` on this machine's CPU provider.

    The stored graph says little: onnxruntime's optimiser fuses, for instance, every int8 DequantizeLinear →
    MatMul pair into one ``com.microsoft:MatMulNBits`` kernel. So the optimised graph is written out and counted.
    """
    import collections
    import tempfile

    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # it warns that the optimised file is machine-specific, which is the point
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory(prefix="triage-kernels-") as tmp:
        options.optimized_model_filepath = str(Path(tmp) / "optimised.onnx")
        ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath, load_external_data=False).graph
    ops = collections.Counter(f"{n.domain}:{n.op_type}" if n.domain else n.op_type for n in graph.node)
    quantised: dict[str, list[dict[str, int]]] = {}
    for node in graph.node:
        if any(k in node.op_type for k in QUANTISED_OPS):
            attrs = {a.name: int(a.i) for a in node.attribute if a.type == onnx.AttributeProto.INT
                     and a.name not in ("K", "N", "weight_prepacked")}
            seen = quantised.setdefault(f"{node.domain}:{node.op_type}" if node.domain else node.op_type, [])
            if attrs not in seen:
                seen.append(attrs)
    return {"onnxruntime": ort.__version__, "provider": "CPUExecutionProvider", "optimisation": "ORT_ENABLE_ALL",
            "ops": dict(ops.most_common()), "quantised_ops": quantised}


# Op names whose attributes say how the low-precision arithmetic is done (bits, block size, accuracy level).
QUANTISED_OPS = ("NBits", "Integer", "Quant")
# The ops that do the arithmetic (the rest reshape and index); the card and the bench name these.
COMPUTE_OPS = ("MatMul", "Gemm", "Attention", "Gelu", "LayerNorm", "Softmax", "Conv")
# MatMulNBits' accuracy_level: the lowest precision its activations may be cast or quantised to.
ACCURACY_LEVELS = {0: "activations not quantised", 1: "fp32 activations", 2: "fp16 activations",
                   3: "bf16 activations", 4: "activations quantised to int8 by block at run time"}


def describe_kernels(onnx_info: dict[str, Any]) -> str:
    """How the weights are stored and which kernels onnxruntime runs them with, in one sentence."""
    counts = onnx_info.get("int8_quantised") or {}
    stored = f"{onnx_info['weights']} weights" if onnx_info.get("weights") else "weight precision not recorded"
    if onnx_info.get("weights") == "int8":
        stored += (f" ({counts.get('matmul', 0)} MatMul weights and {counts.get('gather', 0)} embedding tables; "
                   f"{onnx_info.get('int8_scheme', 'scheme not recorded')})")
    elif onnx_info.get("weights") == "int8_static":
        stored = (f"int8 weights, static int8 compute in {counts.get('matmul_int8_compute', 0)} MatMuls, fp32 compute "
                  f"in {counts.get('matmul_int8_weights_fp32_compute', 0)}, {counts.get('gather', 0)} int8 embedding "
                  f"tables ({onnx_info.get('int8_scheme', 'scheme not recorded')})")
    run = onnx_info.get("runtime_kernels")
    if not run:
        return f"stored: {stored}; the kernels onnxruntime picks were not recorded at export"
    parts = []
    for op, n in run["ops"].items():
        if any(k in op for k in COMPUTE_OPS):
            detail = "; ".join(_quant_detail(a) for a in run.get("quantised_ops", {}).get(op, []))
            parts.append(f"`{op}` ×{n}" + (f" ({detail})" if detail else ""))
    return (f"stored: {stored}; run by onnxruntime {run['onnxruntime']} ({run['provider']}, {run['optimisation']}) "
            f"as {', '.join(parts)}")


def _quant_detail(attrs: dict[str, int]) -> str:
    bits = f"{attrs['bits']}-bit weights" if "bits" in attrs else ""
    block = f"block {attrs['block_size']}" if "block_size" in attrs else ""
    level = attrs.get("accuracy_level")
    acc = f"accuracy level {level}: {ACCURACY_LEVELS.get(level, '?')}" if level is not None else ""
    return ", ".join(x for x in (bits, block, acc) if x)


# Files --------------------------------------------------------------------------------------------------------


def confusion_png(path: Path, labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> None:
    """A row-normalised confusion matrix with counts, as PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.float64)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if m[i, j]:
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def head_section(head: str, model: dict[str, Any], baseline: dict[str, Any] | None, level: str = "###") -> list[str]:
    """Markdown for one head: summary per language (model vs baseline), per-class F1, confusion matrix."""
    lines = [f"{level} {head}", ""]
    groups = [("all", model["all"], (baseline or {}).get("all"))]
    for lang, m in model.get("by_language", {}).items():
        groups.append((lang, m, (baseline or {}).get("by_language", {}).get(lang)))
    lines += ["| language | n | accuracy | macro-F1 | ECE | baseline accuracy | baseline macro-F1 |",
              "|---|---|---|---|---|---|---|"]
    for name, m, b in groups:
        lines.append(f"| {name} | {m['n']} | {fmt(m['accuracy'])} | {fmt(m['macro_f1'])} | {fmt(m['ece'])} | "
                     f"{fmt(b['accuracy']) if b else '–'} | {fmt(b['macro_f1']) if b else '–'} |")
    labels = list(model["all"]["per_class"])
    lines += ["", "Per-class F1 (recall in brackets):", "",
              "| language | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name, m, _ in groups:
        cells = [f"{fmt(m['per_class'][lab]['f1'])} ({fmt(m['per_class'][lab]['recall'], 2)})"
                 if m["per_class"][lab]["support"] else "–" for lab in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if baseline:
        cells = [fmt(baseline["all"]["per_class"][lab]["f1"]) for lab in labels]
        lines.append("| baseline (all) | " + " | ".join(cells) + " |")
    lines += ["", "Confusion matrix (all languages; rows true, columns predicted):", "",
              "| true \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for lab, row in zip(labels, model["all"]["confusion"]["matrix"], strict=True):
        lines.append(f"| **{lab}** | " + " | ".join(str(v) for v in row) + " |")
    for name, m, _ in groups[1:]:
        lines += ["", f"Confusion matrix ({name}):", "", "| true \\ predicted | " + " | ".join(labels) + " |",
                  "|---|" + "---|" * len(labels)]
        for lab, row in zip(labels, m["confusion"]["matrix"], strict=True):
            lines.append(f"| **{lab}** | " + " | ".join(str(v) for v in row) + " |")
    lines.append("")
    return lines


def report_markdown(result: dict[str, Any]) -> str:
    lines = [f"# Evaluation of {result['model']} on {Path(result['data']).name}", "",
             f"- data: `{result['data']}` ({result['n']} rows; preset: {result.get('preset') or 'none'})",
             f"- model: `{result['model_dir']}`",
             f"- baseline: {result.get('baseline_note', 'none')}", ""]
    if result.get("skipped_labels"):
        lines += [f"- labels not in the schema (not scored): {result['skipped_labels']}", ""]
    for head, m in result["metrics"].items():
        lines += head_section(head, m, result.get("baseline", {}).get(head), "##")
        lines += [f"![confusion matrix of {head}](confusion_{head}.png)", ""]
    return "\n".join(lines)


def guess_train_file(data_path: Path) -> Path | None:
    """The training split beside a test split (test.jsonl → train.jsonl, test_gold.tsv → train.tsv)."""
    name = data_path.name
    for old in ("test_gold", "test", "dev"):
        if name.startswith(old):
            candidate = data_path.with_name("train" + name[len(old):])
            if candidate.is_file() and candidate != data_path:
                return candidate
    return None


def evaluate(
    model_dir: Path,
    data_path: Path,
    out_dir: Path | None = None,
    *,
    text_column: str | None = None,
    label_columns: dict[str, str] | None = None,
    language_column: str | None = None,
    preset: str | None = None,
    baseline_train: Path | None = None,
    baseline: bool = True,
    threads: int = 2,
    limit: int | None = None,
) -> dict[str, Any]:
    """Evaluate the model folder on a labeled file; write metrics.json, report.md and confusion PNGs."""
    from training.sources import detect_preset
    from triage.classify.onnx_model import OnnxClassifier

    clf = OnnxClassifier(Path(model_dir), threads=threads, batch_size=64)
    schema = clf.schema
    data_path = Path(data_path)
    options = {"text_column": text_column, "label_columns": label_columns, "language_column": language_column,
               "preset": preset, "head_names": schema.head_names}
    rows = read_labeled_file(data_path, **options)  # type: ignore[arg-type]
    if limit:
        rows = rows[:limit]
    heads = labeled_heads(rows, schema)
    if not heads:
        raise InputError(f"{data_path} has no labels for the heads of model {clf.version} "
                         f"({schema.head_names}); name the label columns with --label-column HEAD=COLUMN")
    result: dict[str, Any] = {
        "model": clf.version, "model_dir": str(model_dir), "data": str(data_path), "n": len(rows),
        "preset": preset or detect_preset(data_path), "skipped_labels": skipped_labels(rows, heads),
        "metrics": model_metrics(clf, rows, heads),
    }
    train_file = baseline_train or (guess_train_file(data_path) if baseline else None)
    if baseline and train_file is not None:
        train_rows = read_labeled_file(Path(train_file), **options)  # type: ignore[arg-type]
        result["baseline"] = baseline_metrics(train_rows, rows, heads)
        result["baseline_note"] = (f"TF-IDF (char 2–5 + word 1–2) + logistic regression trained on `{train_file}` "
                                   f"({len(train_rows)} rows)")
    else:
        result["baseline_note"] = "none (no training file given or found beside the data)"
    out = Path(out_dir) if out_dir else Path.cwd() / f"eval-{data_path.stem}"
    out.mkdir(parents=True, exist_ok=True)
    for head, m in result["metrics"].items():
        confusion_png(out / f"confusion_{head}.png", m["all"]["confusion"]["labels"], m["all"]["confusion"]["matrix"],
                      f"{head} on {data_path.name}\n{clf.version}")
    (out / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report_markdown(result), encoding="utf-8")
    result["out_dir"] = str(out)
    return result


# Real posts: report ---------------------------------------------------------------------------------------------


def real_table(real: RealEvaluation, previous: dict[str, Any] | None = None) -> list[str]:
    """Per language and head: this model, the TF-IDF baseline and (when given) the previous model."""
    cols = ["language", "head", "n", "accuracy", "macro-F1", f"macro-F1, classes ≥ {real.min_class_examples}"]
    cols += ["TF-IDF accuracy", "TF-IDF macro-F1"] if real.baseline else []
    cols += ["previous accuracy", "previous macro-F1"] if previous else []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    # Every language together first (the figure a comparison of two models on the split is made on).
    for lang in [None, *sorted(real.n_by_language, key=language_order)]:
        for head in real.model:
            g = _group(real.model, head, lang)
            if not g:
                continue
            cells = [lang or "all", head, str(g["n"]), fmt(g["accuracy"]), fmt(g["macro_f1"]),
                     fmt(g.get("macro_f1_frequent"))]
            for other in ([real.baseline] if real.baseline else []) + ([previous] if previous else []):
                o = _group(other, head, lang)
                cells += [fmt(o["accuracy"]), fmt(o["macro_f1"])] if o else ["–", "–"]
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def bars_table(checks: Sequence[BarCheck], *, measured_only: bool = False) -> list[str]:
    lines = ["| target | language | n | measured | goal | met |", "|---|---|---|---|---|---|"]
    for c in checks:
        if measured_only and c.value is None:
            continue
        met = "–" if c.met is None else ("yes" if c.met else "**no**")
        value = fmt(c.value, 2) if c.bar.metric == "drop_points" else fmt(c.value)
        lines.append(f"| {c.bar.label()} | {c.bar.language or 'all'} | {c.n or '–'} | {value} | {c.bar.goal()} | {met} "
                     "|")
    return [*lines, ""]


def silent_table(silent: dict[str, SilentErrors]) -> list[str]:
    lines = ["| language | posts | sent to a person | silent errors (wrong on a head, not sent) | wrong on any head | "
             "automated posts right on every head |", "|---|---|---|---|---|---|"]
    for lang, s in sorted(silent.items(), key=lambda kv: (kv[0] == "all", language_order(kv[0]))):
        lines.append(f"| {lang} | {s.n} | {s.to_person} ({_pct(s.human_share)}) | {s.silent_errors} "
                     f"({_pct(s.silent_error_rate)}) | {s.wrong_any_head} | {fmt(s.automated_all_heads_right)} |")
    decided = next(iter(silent.values())).decided_by if silent else "–"
    return [*lines, "", f"Who goes to a person: {decided}.", ""]


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def real_report_markdown(version: str, model_dir: Path, real: RealEvaluation, checks: Sequence[BarCheck]) -> str:
    lines = [f"# {version} on the real {real.split} split", "",
             "- data: the project's labels of real posts (`data/real`, split by brand), texts from "
             "../shared/datasets; "
             f"{real.n} posts ({', '.join(f'{k} {v}' for k, v in real.n_by_language.items())})",
             f"- model: `{model_dir}`, through onnxruntime; silent errors through the whole engine",
             f"- baseline: {real.baseline_note or 'none'}", "", "## Per language and head", "",
             *real_table(real), "## Targets", "", *bars_table(checks, measured_only=True),
             "## Sent to a person, and silent errors", "", *silent_table(real.silent)]
    for head, m in real.model.items():
        lines += head_section(head, m, real.baseline.get(head), "##")
        lines += [f"![confusion matrix of {head}](confusion_{head}.png)", ""]
    return "\n".join(lines)


def evaluate_real_split(model_dir: Path, out_dir: Path | None = None, *, split: str = "test", threads: int = 2,
                        baseline: bool = True, engine: bool = True, limit: int | None = None) -> dict[str, Any]:
    """``triage evaluate MODEL --real``: the real split from data/real and ../shared, no file to prepare."""
    from triage.classify.onnx_model import OnnxClassifier

    model_dir = Path(model_dir)
    clf = OnnxClassifier(model_dir, threads=threads)
    data = read_real_split(split)
    if limit:
        data = RealSplit(data.split, data.rows[:limit], data.channels[:limit])
    train: list[LabeledRow] = []
    if baseline:
        _, _, corpus = project_paths()
        train = read_real_split("train").rows + written_train_rows(corpus, clf.schema.head_names)
    real = evaluate_real(model_dir, data, threads=threads, engine=engine, baseline_train=train)
    view = EvalView({"real": real.model}, real.silent, {})
    checks = [c for c in check_bars(ISSUE_BARS, view) if c.bar.role == "real"]
    out = Path(out_dir) if out_dir else Path.cwd() / f"eval-real-{split}"
    out.mkdir(parents=True, exist_ok=True)
    for head, m in real.model.items():
        confusion_png(out / f"confusion_{head}.png", m["all"]["confusion"]["labels"], m["all"]["confusion"]["matrix"],
                      f"{head} on real {split}\n{clf.version}")
    result = {"model": clf.version, "model_dir": str(model_dir), "data": f"data/real ({split})",
              "real": real.model_dump(mode="python"), "targets": [_check_json(c) for c in checks]}
    (out / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(real_report_markdown(clf.version, model_dir, real, checks), encoding="utf-8")
    return result | {"out_dir": str(out)}


def _check_json(c: BarCheck) -> dict[str, Any]:
    return {"target": c.bar.label(), "language": c.bar.language or "all", "goal": c.bar.goal(), "n": c.n,
            "measured": c.value, "met": c.met}

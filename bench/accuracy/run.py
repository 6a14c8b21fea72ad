"""Accuracy benchmark: real text first, then the written corpus and the public sets, beside TF-IDF.

``python -m bench.accuracy.run [--model models/default] [--label NAME] [--compare OTHER_MODEL | OLD.json]
[--compare-label NAME] [--teacher runs/default/teacher] [--smoke] [--out DIR]``

On the project's labeled **real** posts, test split (brands no model trained on; ``data/real``, texts from
``../shared/datasets``), Hebrew and English apart, per head: accuracy, macro-F1, macro-F1 over classes with
at least 10 test posts, per-class F1; and the **silent-error rate** — posts wrong on any head that the whole
engine (default brand policy) does not send to a person — beside the share it sends. Through
``training.evaluate.evaluate_real``, the code behind the model card and ``triage evaluate --real``.

On the written corpus test split (``data/corpus/test.jsonl``), per head and per language:

* accuracy, macro-F1, per-class F1, expected calibration error (15 bins), ``critical`` recall;
* the share of posts sent to a person — by the engine's routing (``needs_human``) and by the model's
  own thresholds (any head uncertain) — with the accuracy of the rest;
* the automation curve: coverage and accuracy of the automated posts as one confidence threshold
  (on the least confident head) moves.

On the public sets:

* Hebrew Facebook sentiment, ``test_gold.tsv``: accuracy and macro-F1 beside the reported figures and our
  TF-IDF baseline trained on ``train.tsv``;
* English complaints to brands: the held-out test split that training did *not* see (same seeded split as
  ``training.sources``), brand-addressed tweets reported apart: complaint detection (intent ``complaint``
  or ``churn_risk`` counts as a complaint) and sentiment.

Baselines in the same command, on the same rows: TF-IDF (char 2–5 + word 1–2) + logistic regression
(``training.evaluate.baseline_metrics``; for real posts trained on the real + written training splits),
``--compare`` (another model folder, e.g. the previous default, or an earlier ``accuracy.json`` whose
figures stand in where each section's test rows have the same fingerprint), and the un-distilled teacher
when a student is shipped (found from the manifest, or ``--teacher``). The targets are the issue's bars
(``training.evaluate.ISSUE_BARS``) plus the model recipe's own (``export.targets``), met / not met with n
for every model, plus the distillation tolerance. Each exported model's kernels and quantisation are
measured from the graph onnxruntime actually runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import shutil
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.common import (
    DEFAULT_MODEL_DIR,
    ROOT,
    SHARED_DATASETS,
    Notes,
    Target,
    find_corpus_dir,
    fmt,
    log,
    results_dir,
    run_header,
    write_results,
)

if TYPE_CHECKING:
    from training.evaluate import Bar, BarCheck

CURVE_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
COMPLAINT_INTENTS = ("complaint", "churn_risk")
DISTILL_MAX_DROP_POINTS = 2.0
# The fast-default issue: a student ships as the default within this of its teacher on the real test split.
DISTILL_REAL_MAX_DROP_POINTS = 1.5

# --------------------------------------------------------------------------------------------------
# Loading models and data


def load_model(path: Path, threads: int) -> tuple[Any, str]:
    """An exported model folder (OnnxClassifier) or a training checkpoint (CheckpointClassifier)."""
    if (path / "manifest.json").is_file():
        from triage.classify.onnx_model import OnnxClassifier

        return OnnxClassifier(path, threads=threads, batch_size=64), "exported model (onnxruntime)"
    from bench.speed.torch_baseline import CheckpointClassifier

    try:
        from training.checkpoint import checkpoint_dir

        path = checkpoint_dir(path)
    except Exception:  # a bare checkpoint folder without checkpoint.json still loads below
        pass
    return CheckpointClassifier(path, threads=threads), "training checkpoint (PyTorch)"


def find_teacher(model_dir: Path, explicit: Path | None) -> Path | None:
    """``explicit``, else ``runs/<recipe>/teacher`` when the shipped model is a distilled student."""
    if explicit is not None:
        return explicit
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    training = manifest.get("training") or {}
    if training.get("kind") == "student" and isinstance(training.get("recipe"), str):
        cand = ROOT / "runs" / training["recipe"] / "teacher"
        if (cand / "model.json").is_file() or (cand / "manifest.json").is_file():
            return cand
    return None


def training_config(model_dir: Path) -> tuple[dict[str, Any], str]:
    """The model's recipe (``training_config.json``), else the shipped recipe ``training/configs/default.yaml``."""
    path = model_dir / "training_config.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8")), str(path)
    import yaml

    default = ROOT / "training" / "configs" / "default.yaml"
    if default.is_file():
        return dict(yaml.safe_load(default.read_text(encoding="utf-8"))), f"{default} (the model has no recipe)"
    return {}, "none"


def read_rows(path: Path, limit: int | None, tmp: Path, **options: Any) -> list[Any]:
    """``training.sources.read_labeled_file`` on ``path``, or on a seeded sample of ``limit`` of its lines
    (smoke runs: normalising a whole public set is the slow part). The preset is detected on ``path``.
    """
    from training.sources import detect_preset, read_labeled_file

    options.setdefault("preset", detect_preset(path))
    if limit is None:
        return list(read_labeled_file(path, **options))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = [] if path.suffix == ".jsonl" else lines[:1]
    body = lines[len(header):]
    keep = sorted(random.Random(0).sample(range(len(body)), min(limit, len(body))))
    sample = Path(tempfile.mkdtemp(dir=tmp)) / path.name
    sample.write_text("".join(header + [body[i] for i in keep]), encoding="utf-8")
    return list(read_labeled_file(sample, **options))


def _limit(rows: list[Any], n: int | None, seed: int = 0) -> list[Any]:
    if n is None or len(rows) <= n:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


# --------------------------------------------------------------------------------------------------
# Metrics beyond training.evaluate: who goes to a person, the automation curve


def _labels_index(rows: Sequence[Any], head: Any) -> np.ndarray:
    """Gold label index per row, -1 where the row has no (valid) label for the head."""
    index = {lab: i for i, lab in enumerate(head.labels)}
    return np.array([index.get(r.labels.get(head.name), -1) for r in rows], dtype=np.int64)


def automation(
    probs: dict[str, np.ndarray],
    rows: Sequence[Any],
    heads: Sequence[Any],
    thresholds: dict[str, float],
    min_margins: dict[str, float],
    engine_needs_human: Sequence[bool] | None,
) -> dict[str, Any]:
    """needs_human share and accuracy of the rest (per head and all heads right), plus the curve."""
    gold = {h.name: _labels_index(rows, h) for h in heads}
    correct = {h.name: probs[h.name].argmax(1) == gold[h.name] for h in heads}
    labeled_all = np.all([gold[h.name] >= 0 for h in heads], axis=0)
    all_right = np.all([correct[h.name] for h in heads], axis=0)
    conf = {h.name: probs[h.name].max(1) for h in heads}
    srt = {h.name: np.sort(probs[h.name], axis=1) for h in heads}
    margin = {h.name: srt[h.name][:, -1] - srt[h.name][:, -2] for h in heads}
    uncertain = np.any([(conf[h.name] < thresholds.get(h.name, h.threshold))
                        | (margin[h.name] < min_margins.get(h.name, h.min_margin)) for h in heads], axis=0)

    def rest(mask_human: np.ndarray) -> dict[str, Any]:
        auto = ~mask_human
        out: dict[str, Any] = {"share_to_person": round(float(mask_human.mean()), 4),
                               "automated": int(auto.sum())}
        for h in heads:
            sel = auto & (gold[h.name] >= 0)
            out[f"accuracy_{h.name}"] = round(float(correct[h.name][sel].mean()), 4) if sel.any() else None
        sel = auto & labeled_all
        out["accuracy_all_heads"] = round(float(all_right[sel].mean()), 4) if sel.any() else None
        return out

    result: dict[str, Any] = {
        "thresholds": {h.name: thresholds.get(h.name, h.threshold) for h in heads},
        "min_margins": {h.name: min_margins.get(h.name, h.min_margin) for h in heads},
        "uncertain_any_head": rest(uncertain),
        "accuracy_all_heads_everything": round(float(all_right[labeled_all].mean()), 4) if labeled_all.any() else None,
    }
    if engine_needs_human is not None:
        result["engine_routing"] = rest(np.asarray(engine_needs_human, dtype=bool))
    joint = np.min([conf[h.name] for h in heads], axis=0)
    curve = []
    for t in CURVE_THRESHOLDS:
        auto = joint >= t
        row: dict[str, float | None] = {"threshold": t, "coverage": round(float(auto.mean()), 4)}
        sel = auto & labeled_all
        row["accuracy_all_heads"] = round(float(all_right[sel].mean()), 4) if sel.any() else None
        for h in heads:
            hs = (conf[h.name] >= t) & (gold[h.name] >= 0)
            row[f"coverage_{h.name}"] = round(float((conf[h.name] >= t).mean()), 4)
            row[f"accuracy_{h.name}"] = round(float(correct[h.name][hs].mean()), 4) if hs.any() else None
        curve.append(row)
    result["curve"] = curve
    return result


def engine_needs_human(model_dir: Path, texts: Sequence[str], threads: int) -> tuple[list[bool] | None, str]:
    """The routing decision's ``needs_human`` per post through the real engine (None without routing)."""
    from triage.loading import load_engine
    from triage.types import Post

    engine = load_engine(model_dir, threads=threads)
    if engine.router is None:
        return None, "the engine has no routing policy for this schema"
    out: list[bool] = []
    for i in range(0, len(texts), 64):
        results = engine.triage_batch([Post(text=t) for t in texts[i : i + 64]])
        out += [bool(r.routing and r.routing.needs_human) for r in results]
    return out, "engine routing (default brand policy)"


# --------------------------------------------------------------------------------------------------
# The evaluations


def evaluate_corpus(clf: Any, test: list[Any], heads: list[Any], *, with_automation: bool,
                    needs_human: Sequence[bool] | None) -> dict[str, Any]:
    from training.evaluate import model_metrics

    out: dict[str, Any] = {"n": len(test), "metrics": model_metrics(clf, test, heads)}
    if with_automation:
        probs = clf.predict([r.text for r in test]).probabilities
        out["automation"] = automation(probs, test, heads, clf.thresholds, clf.min_margins, needs_human)
    return out


def evaluate_he_fb(models: dict[str, Any], folder: Path, limits: dict[str, int | None], tmp: Path) -> dict[str, Any]:
    """Hebrew Facebook sentiment test_gold: every model, and TF-IDF trained on train.tsv."""
    from bench.accuracy.real import fingerprint
    from training.evaluate import baseline_metrics, model_metrics

    test = read_rows(folder / "test_gold.tsv", limits["test"], tmp)
    train = read_rows(folder / "train.tsv", limits["train"], tmp)
    first = next(iter(models.values()))
    heads = [first.schema.head("sentiment")]
    out: dict[str, Any] = {"n": len(test), "train_rows": len(train), "fingerprint": fingerprint(test),
                           "models": {name: model_metrics(clf, test, heads)["sentiment"]
                                      for name, clf in models.items()}}
    out["models"]["tfidf"] = baseline_metrics(train, test, heads)["sentiment"]
    return out


def read_complaints_split(model_dir: Path, folder: Path, splits: Sequence[str]) -> tuple[list[Any], str]:
    """The complaints rows of ``splits`` exactly as training split them (its seed from the model's recipe)."""
    from training.config import SourceConfig
    from training.sources import read_source_rows

    config, _ = training_config(model_dir)
    spec = next((s for s in config.get("sources", []) if s.get("kind") == "complaints"), None)
    seed = int((spec or {}).get("split_seed", 13))
    source = SourceConfig(name="complaints", kind="complaints", path=folder,
                          splits=list(splits),  # type: ignore[arg-type]
                          split_seed=seed)
    return read_source_rows(source), f"training.sources split, seed {seed}"


def _binary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    if not len(y_true):
        return {"n": 0}
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    return {"n": len(yt), "accuracy": round(float((yt == yp).mean()), 4),
            "macro_f1": round(float(f1_score(yt, yp, average="macro", labels=[0, 1], zero_division=0)), 4),
            "f1_complaint": round(float(f1_score(yt, yp, pos_label=1, zero_division=0)), 4)}


def evaluate_complaints(models: dict[str, Any], model_dir: Path, folder: Path, limits: dict[str, int | None]
                        ) -> dict[str, Any]:
    """Complaint detection and sentiment on the complaints test split, all tweets and brand-addressed ones."""
    from bench.accuracy.real import fingerprint
    from training.sources import LabeledRow

    test_raw, how = read_complaints_split(model_dir, folder, ["test"])
    train_raw, _ = read_complaints_split(model_dir, folder, ["train"])
    test_raw, train_raw = _limit(test_raw, limits["test"]), _limit(train_raw, limits["train"])
    brand = np.array([bool(r.meta.get("brand_addressed")) for r in test_raw])
    y = np.array([1 if r.signals.get("complaint") == "yes" else 0 for r in test_raw])
    texts = [r.text for r in test_raw]
    out: dict[str, Any] = {"split": how, "n": len(test_raw), "n_brand_addressed": int(brand.sum()),
                           "fingerprint": fingerprint(test_raw),
                           "complaint_rule": f"intent in {list(COMPLAINT_INTENTS)}", "models": {}}
    sent_labels = ["negative", "neutral", "positive"]
    gold_sent = np.array([sent_labels.index(r.signals["sentiment"]) if r.signals.get("sentiment") in sent_labels
                          else -1 for r in test_raw])
    for name, clf in models.items():
        probs = clf.predict(texts).probabilities
        intents = clf.schema.head("intent").labels
        pred = np.array([1 if intents[i] in COMPLAINT_INTENTS else 0 for i in probs["intent"].argmax(1)])
        s_labels = clf.schema.head("sentiment").labels
        s_pred = np.array([sent_labels.index(s_labels[i]) for i in probs["sentiment"].argmax(1)])
        sel = gold_sent >= 0
        out["models"][name] = {
            "complaint_all": _binary_metrics(y, pred),
            "complaint_brand_addressed": _binary_metrics(y[brand], pred[brand]),
            "sentiment_brand_addressed": _binary_sentiment(gold_sent[sel], s_pred[sel]),
        }
    # TF-IDF trained on the complaints train split, same test rows
    to_rows = [LabeledRow(r.text, {k: v for k, v in r.signals.items() if k in ("complaint", "sentiment")}, "en")
               for r in train_raw]
    test_rows = [LabeledRow(r.text, {k: v for k, v in r.signals.items() if k in ("complaint", "sentiment")}, "en")
                 for r in test_raw]
    # training.evaluate.baseline_metrics scores all rows only; the same recipe is refitted here so that its
    # predictions can be split into the brand-addressed subset.
    out["models"]["tfidf"] = _tfidf_complaints(to_rows, test_rows, brand, gold_sent)
    return out


def _binary_sentiment(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    if not len(y_true):
        return {"n": 0}
    return {"n": len(y_true), "accuracy": round(float((y_true == y_pred).mean()), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", labels=sorted(set(y_true.tolist())),
                                             zero_division=0)), 4)}


def _tfidf_complaints(train: Sequence[Any], test: Sequence[Any], brand: np.ndarray, gold_sent: np.ndarray
                      ) -> dict[str, Any]:
    """The same TF-IDF recipe as training.evaluate.baseline_metrics, predictions kept for the subsets."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    def fit_predict(head: str, labels: list[str]) -> np.ndarray:
        tr = [r for r in train if r.labels.get(head) in labels]
        pipe = make_pipeline(
            make_union(
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
                TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),
            ),
            LogisticRegression(C=10.0, max_iter=3000, class_weight="balanced", random_state=0),
        )
        pipe.fit([r.text for r in tr], [labels.index(r.labels[head]) for r in tr])
        return np.asarray(pipe.predict([r.text for r in test]))

    y = np.array([1 if r.labels.get("complaint") == "yes" else 0 for r in test])
    pred = fit_predict("complaint", ["no", "yes"])
    s_pred = fit_predict("sentiment", ["negative", "neutral", "positive"])
    sel = gold_sent >= 0
    return {"complaint_all": _binary_metrics(y, pred), "complaint_brand_addressed": _binary_metrics(y[brand],
                                                                                                    pred[brand]),
            "sentiment_brand_addressed": _binary_sentiment(gold_sent[sel], s_pred[sel])}


# --------------------------------------------------------------------------------------------------
# Targets


def recipe_bars(model_dir: Path) -> tuple[list[Bar], str]:
    """The issue's bars plus the model recipe's own targets (``export.targets`` of ``training_config.json``)."""
    from training.evaluate import all_bars, source_roles

    recipe, source = training_config(model_dir)
    targets = (recipe.get("export") or {}).get("targets") or []
    return all_bars(targets, source_roles(recipe.get("sources") or [])), source


def bar_checks(r: dict[str, Any], bars: Sequence[Bar]) -> dict[str, list[BarCheck]]:
    """Each model's checks of the bars; the shipped model's written-split drop is against ``previous``."""
    from bench.accuracy.real import view_of
    from training.evaluate import check_bars

    models = [m for m in ("shipped", "previous", "tfidf") if any(
        m in ((r.get(s) or {}).get("models") or {}) for s in ("real", "corpus", "he_fb"))]
    return {m: check_bars(bars, view_of(r, m, "previous" if m == "shipped" else None)) for m in models}


def _distillation_gaps(student: dict[str, Any], teacher: dict[str, Any], split: str, limit: float) -> list[Target]:
    """Teacher minus student macro-F1 per head (every language together), in points, against ``limit``."""
    return [Target.at_most(f"distillation: teacher − student macro-F1, {head} (points, {split})", limit,
                           round((teacher[head]["all"]["macro_f1"] - m["all"]["macro_f1"]) * 100, 2), "points",
                           why="the student has fewer layers (see the model card for its recipe)")
            for head, m in student.items() if head in teacher]


def accuracy_targets(r: dict[str, Any], checks: Sequence[BarCheck]) -> list[Target]:
    """The shipped model's bars as bench targets (n in the name), then the distillation tolerance per head."""
    out = []
    for c in checks:
        name = f"{c.bar.label()} ({c.bar.language or 'all'}, n = {c.n})"
        make = Target.at_most if c.bar.at_most else Target.at_least
        unit = "points" if c.bar.metric == "drop_points" else ""
        out.append(make(name, c.bar.limit, c.value, unit))
    student = ((r.get("corpus") or {}).get("models", {}).get("shipped") or {}).get("metrics", {})
    teacher = ((r.get("corpus") or {}).get("models", {}).get("teacher") or {}).get("metrics", {})
    out += _distillation_gaps(student, teacher, "written test split", DISTILL_MAX_DROP_POINTS)
    # The fast-default issue's shipping rule: on the real test split, every language together.
    real = (r.get("real") or {}).get("models", {})
    real_student = (real.get("shipped") or {}).get("model", {})
    real_teacher = (real.get("teacher") or {}).get("model", {})
    out += _distillation_gaps(real_student, real_teacher, "real test split", DISTILL_REAL_MAX_DROP_POINTS)
    if student and not teacher:
        out.append(Target("distillation: teacher − student macro-F1 (points), every head",
                          f"≤ {DISTILL_MAX_DROP_POINTS:g} points", None, "points", None, "not measured",
                          r.get("teacher_note", "no teacher found")))
    return out


# --------------------------------------------------------------------------------------------------
# The run


@dataclass
class Models:
    """The classifiers a run compares: by role, the exported folders among them, and display labels."""

    loaded: dict[str, Any] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    stored: dict[str, Any] | None = None  # an earlier results file standing in for ``--compare``


def resolve_model_dirs(args: argparse.Namespace, corpus_dir: Path, tmp: Path, notes: Notes) -> tuple[Path, Path | None]:
    """``--model`` (a tiny random model for a smoke run without one) and ``--teacher``."""
    model_dir: Path | None = args.model
    teacher_dir: Path | None = args.teacher
    if model_dir is None and args.smoke:
        from bench.common import load_corpus_posts
        from bench.speed.torch_baseline import build_tiny_artifact, build_tiny_checkpoint

        texts, _ = load_corpus_posts(corpus_dir)
        model_dir = build_tiny_artifact(tmp / "tiny-model", texts[:2000])
        notes.add(f"smoke: tiny random model in {model_dir} (its numbers mean nothing)")
        if teacher_dir is None:
            teacher_dir = build_tiny_checkpoint(tmp / "tiny-teacher", model_dir / "tokenizer.json")
            notes.add(f"smoke: tiny random training checkpoint as the teacher in {teacher_dir}")
    model_dir = model_dir or DEFAULT_MODEL_DIR
    if not (model_dir / "manifest.json").is_file():
        raise SystemExit(f"error: no model at {model_dir} (no manifest.json). Train and export one "
                         "(`triage train`, `triage export`) or pass --model DIR.")
    return model_dir, teacher_dir or find_teacher(model_dir, None)


def load_models(args: argparse.Namespace, model_dir: Path, teacher_dir: Path | None, results: dict[str, Any],
                notes: Notes, section: Callable[[str, Callable[[], Any]], Any]) -> Models:
    student, how = load_model(model_dir, args.threads)
    m = Models({"shipped": student}, {"shipped": model_dir}, {"shipped": args.label or student.version,
                                                              "tfidf": "TF-IDF"})
    described = {"shipped": f"{student.version} ({model_dir}): {how}"}
    if args.compare is not None and args.compare.suffix == ".json":
        from bench.accuracy.real import stored_model

        m.labels["previous"], m.stored = stored_model(args.compare)
        m.labels["previous"] = args.compare_label or m.labels["previous"]
        described["previous"] = f"figures stored in {args.compare} (sections whose test rows match)"
    elif args.compare is not None:
        clf, how = load_model(args.compare, args.threads)
        m.loaded["previous"], m.folders["previous"] = clf, args.compare
        m.labels["previous"] = args.compare_label or clf.version
        described["previous"] = f"{clf.version} ({args.compare}): {how}"
    if teacher_dir is not None:
        teacher = section("loading the teacher", lambda: load_model(Path(teacher_dir), args.threads))
        if teacher:
            m.loaded["teacher"], m.labels["teacher"] = teacher[0], "teacher"
            described["teacher"] = f"{teacher_dir}: {teacher[1]}"
    else:
        results["teacher_note"] = ("no teacher: the manifest does not name a distilled student with a "
                                   "runs/<recipe>/teacher checkpoint; pass --teacher")
        notes.add(results["teacher_note"])
    results["models"], results["labels"] = described, m.labels
    return m


def kernels_of(folders: dict[str, Path]) -> dict[str, str]:
    """How each exported model's weights are stored and which onnxruntime kernels run them (measured here)."""
    from training.evaluate import describe_kernels, runtime_kernels

    out = {}
    for name, folder in folders.items():
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        info = dict(manifest.get("onnx") or {})
        info["runtime_kernels"] = runtime_kernels(folder / "model.onnx")
        out[name] = describe_kernels(info)
    return out


def real_section(args: argparse.Namespace, m: Models, corpus_dir: Path, limits: dict[str, int | None],
                 notes: Notes) -> dict[str, Any] | None:
    from bench.accuracy.real import evaluate_real_section

    texts = args.shared or SHARED_DATASETS
    real_dir = args.real or ROOT / "data" / "real"
    if not (real_dir / "sample.jsonl").is_file() or not texts.is_dir():
        notes.add(f"no labeled real posts ({real_dir}) or no texts ({texts}): the real-text section is skipped")
        return None
    if args.smoke:
        notes.add("smoke: real posts go to a person by the model's thresholds; the engine is not loaded (slow)")
    others = {k: v for k, v in m.loaded.items() if k not in m.folders}
    log(f"real posts: {list(m.folders)} through the engine, {list(others)} through predict; TF-IDF")
    return evaluate_real_section(m.folders, others, real_dir, texts, corpus_dir, limits, engine=not args.smoke,
                                 threads=args.threads)


def corpus_section(args: argparse.Namespace, m: Models, corpus_dir: Path, limits: dict[str, int | None], tmp: Path,
                   notes: Notes, section: Callable[[str, Callable[[], Any]], Any]) -> dict[str, Any]:
    """The written corpus test split: every model, TF-IDF, and who the engine sends to a person."""
    from bench.accuracy.real import fingerprint
    from training.evaluate import baseline_metrics, labeled_heads, test_split_changed

    student, model_dir = m.loaded["shipped"], m.folders["shipped"]
    test = read_rows(corpus_dir / "test.jsonl", limits["test"], tmp, head_names=student.schema.head_names)
    train = read_rows(corpus_dir / "train.jsonl", limits["train"], tmp, head_names=student.schema.head_names)
    heads = labeled_heads(test, student.schema)
    log(f"corpus test: {len(test)} posts, heads {[h.name for h in heads]}; TF-IDF trained on {len(train)}")
    needs = None
    if args.smoke:
        notes.add("smoke: engine routing (needs_human) is skipped: it loads every language and spaCy model (slow)")
    else:
        needs = section("engine routing", lambda: engine_needs_human(model_dir, [r.text for r in test], args.threads))
    corpus: dict[str, Any] = {"dir": str(corpus_dir), "n": len(test), "train_rows": len(train), "models": {},
                              "fingerprint": fingerprint(test), "needs_human_source": needs[1] if needs
                              else "not measured"}
    for name, clf in m.loaded.items():
        log(f"corpus test: {name}")
        corpus["models"][name] = section(f"corpus {name}", functools.partial(
            evaluate_corpus, clf, test, heads, with_automation=True,
            needs_human=(needs[0] if needs and clf is student else None)))
    corpus["test_split_changed"] = [m.labels.get(n, n) for n, folder in m.folders.items()
                                    if test_split_changed(folder, corpus_dir / "test.jsonl")]
    for label in corpus["test_split_changed"]:
        notes.add(f"{label} was trained beside another version of {corpus_dir}/test.jsonl (sha256 in its manifest "
                  "differs; the corpus was rebuilt and its splits re-drawn): posts it trained on may now be test "
                  "posts, so its written-split figures are too good")
    log("corpus test: TF-IDF baseline")
    corpus["models"]["tfidf"] = section("corpus TF-IDF", lambda: {"n": len(test),
                                                                  "metrics": baseline_metrics(train, test, heads)})
    return corpus


def public_sections(args: argparse.Namespace, m: Models, limits: dict[str, int | None], tmp: Path, notes: Notes,
                    section: Callable[[str, Callable[[], Any]], Any]) -> dict[str, Any]:
    datasets = args.shared or SHARED_DATASETS
    out: dict[str, Any] = {}
    if (datasets / "he-sentiment-facebook").is_dir():
        log("Hebrew Facebook sentiment")
        out["he_fb"] = section("Hebrew FB", lambda: evaluate_he_fb(m.loaded, datasets / "he-sentiment-facebook",
                                                                   limits, tmp))
    else:
        notes.add(f"{datasets}/he-sentiment-facebook is absent: the Hebrew public benchmark is skipped")
    if (datasets / "en-complaints-severity").is_dir():
        log("English complaints")
        out["complaints"] = section("complaints", lambda: evaluate_complaints(
            m.loaded, m.folders["shipped"], datasets / "en-complaints-severity", limits))
    else:
        notes.add(f"{datasets}/en-complaints-severity is absent: the English public benchmark is skipped")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.accuracy.real import merge_stored
    from bench.accuracy.report import accuracy_markdown

    notes = Notes()
    out_dir = results_dir(args.smoke, args.out)
    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-accuracy-"))

    def section(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:
            if args.smoke:
                raise
            notes.add(f"{name} failed: {type(exc).__name__}: {exc}")
            log(traceback.format_exc())
            return None

    corpus_dir = find_corpus_dir(args.corpus)
    if corpus_dir is None:
        raise SystemExit("error: no corpus found (data/corpus/test.jsonl or /tmp/corpus/test.jsonl); pass --corpus")
    if corpus_dir != ROOT / "data" / "corpus":
        notes.add(f"the corpus was read from {corpus_dir}, not data/corpus")
    model_dir, teacher_dir = resolve_model_dirs(args, corpus_dir, tmp, notes)
    results: dict[str, Any] = run_header("accuracy", smoke=args.smoke, model_dir=model_dir)
    limits: dict[str, int | None] = {"test": 40, "train": 150} if args.smoke else {"test": None, "train": None}
    m = load_models(args, model_dir, teacher_dir, results, notes, section)
    results["kernels"] = section("kernels", lambda: kernels_of(m.folders)) or {}
    # Real text first: it is what the model is for.
    results["real"] = section("real posts", lambda: real_section(args, m, corpus_dir, limits, notes))
    results["corpus"] = corpus_section(args, m, corpus_dir, limits, tmp, notes, section)
    results.update(public_sections(args, m, limits, tmp, notes, section))
    if m.stored is not None:
        merge_stored(results, m.stored, "previous", notes)
    bars, results["targets_source"] = recipe_bars(model_dir)
    checks = bar_checks(results, bars)
    results["bars"] = {name: [_check_json(c) for c in cs] for name, cs in checks.items()}
    results["targets"] = accuracy_targets(results, checks.get("shipped", []))
    results["notes"] = notes.items
    json_path, md_path = write_results("accuracy", results, accuracy_markdown(results, checks), out_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"wrote {json_path} and {md_path}")
    return results


def _check_json(c: BarCheck) -> dict[str, Any]:
    return {"target": c.bar.label(), "metric": c.bar.metric, "head": c.bar.head, "role": c.bar.role,
            "language": c.bar.language or "all", "goal": c.bar.goal(), "n": c.n, "measured": c.value, "met": c.met}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy.run", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: models/default)")
    parser.add_argument("--label", default=None, help="column name of --model in the report (default: its version)")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another model folder side by side (e.g. the previous default), or an earlier "
                             "accuracy.json whose model stands in where its test rows match")
    parser.add_argument("--compare-label", default=None, help="column name of --compare (default: its version)")
    parser.add_argument("--teacher", type=Path, default=None,
                        help="teacher: a training checkpoint or run folder, or an exported model folder "
                             "(default: runs/<recipe>/teacher when the model is a distilled student)")
    parser.add_argument("--smoke", action="store_true",
                        help="a few rows and a tiny random model (unless --model); results go to a temp folder")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: bench/results)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus, /tmp/corpus)")
    parser.add_argument("--real", type=Path, default=None, help="labeled real posts (default: data/real)")
    parser.add_argument("--shared", type=Path, default=None,
                        help="public datasets folder (default: ../shared/datasets)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads (default 2)")
    args = parser.parse_args(argv)
    results = run(args)
    for t in results["targets"]:
        status = {True: "met", False: f"MISSED by {t.miss_by}", None: "not measured"}[t.met]
        print(f"{t.name}: {fmt(t.measured)} (target {t.target}) -> {status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Accuracy benchmark: the shipped model against its baselines, its teacher and published results.

``python -m bench.accuracy.run [--model models/default] [--teacher runs/default/teacher] [--smoke] [--out DIR]``

On the project's test split (``data/corpus/test.jsonl``), per head and per language:

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

Baselines in the same command, on the same splits: TF-IDF (char 2–5 + word 1–2) + logistic regression
trained on the same training data (``training.evaluate.baseline_metrics``), and the un-distilled teacher
when a student is shipped (found from the manifest, or ``--teacher``). The targets come from the model's
own training recipe (``export.targets`` in ``training_config.json``), plus the distillation tolerance.

Metrics are computed by ``training.metrics`` / ``training.evaluate`` (the same code that writes the
model card), through the real runtime (``OnnxClassifier``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import shutil
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
    machine_markdown,
    md_table,
    results_dir,
    run_header,
    targets_table,
    write_results,
)

CURVE_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
COMPLAINT_INTENTS = ("complaint", "churn_risk")
DISTILL_MAX_DROP_POINTS = 2.0
# Reported figures (from ../shared/datasets/*/README.md; check each paper's metric before comparing).
HE_FB_REFERENCE = [
    ("TF-IDF char 2–5 + word 1–2 + LR (dataset README)", 0.877, 0.654, "accuracy / macro-F1 on test_gold"),
    ("Hebrew BERT-base (AlephBERT / AlephBERTGimmel papers)", None, None,
     "reported ≈ 0.89–0.90 F1; the papers' F1 is not necessarily 3-class macro-F1"),
]
COMPLAINTS_REFERENCE = [
    ("Preoţiuc-Pietro et al. 2019 (complaint detection)", "≈ 0.79 F1", "their own split"),
    ("Jin & Aletras 2020", "≈ 0.87 macro-F1", "their own split"),
    ("TF-IDF + LR (dataset README)", "0.83 macro-F1 (10-fold CV); 0.74 on brand-addressed tweets", "10-fold CV"),
]


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
    from training.evaluate import baseline_metrics, model_metrics

    test = read_rows(folder / "test_gold.tsv", limits["test"], tmp)
    train = read_rows(folder / "train.tsv", limits["train"], tmp)
    first = next(iter(models.values()))
    heads = [first.schema.head("sentiment")]
    out: dict[str, Any] = {"n": len(test), "train_rows": len(train),
                           "models": {name: model_metrics(clf, test, heads)["sentiment"] for name, clf in models.items()}}
    out["models"]["tfidf"] = baseline_metrics(train, test, heads)["sentiment"]
    return out


def read_complaints_split(model_dir: Path, folder: Path, splits: Sequence[str]) -> tuple[list[Any], str]:
    """The complaints rows of ``splits`` exactly as training split them (its seed from the model's recipe)."""
    from training.config import SourceConfig
    from training.sources import read_source_rows

    config, _ = training_config(model_dir)
    spec = next((s for s in config.get("sources", []) if s.get("kind") == "complaints"), None)
    seed = int((spec or {}).get("split_seed", 13))
    source = SourceConfig(name="complaints", kind="complaints", path=folder, splits=list(splits),  # type: ignore[arg-type]
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
    from training.sources import LabeledRow

    test_raw, how = read_complaints_split(model_dir, folder, ["test"])
    train_raw, _ = read_complaints_split(model_dir, folder, ["train"])
    test_raw, train_raw = _limit(test_raw, limits["test"]), _limit(train_raw, limits["train"])
    brand = np.array([bool(r.meta.get("brand_addressed")) for r in test_raw])
    y = np.array([1 if r.signals.get("complaint") == "yes" else 0 for r in test_raw])
    texts = [r.text for r in test_raw]
    out: dict[str, Any] = {"split": how, "n": len(test_raw), "n_brand_addressed": int(brand.sum()),
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
    return {"complaint_all": _binary_metrics(y, pred), "complaint_brand_addressed": _binary_metrics(y[brand], pred[brand]),
            "sentiment_brand_addressed": _binary_sentiment(gold_sent[sel], s_pred[sel])}


# --------------------------------------------------------------------------------------------------
# Targets


def _metric(m: dict[str, Any], metric: str) -> float | None:
    if metric.startswith("recall:"):
        cls = m["per_class"].get(metric.split(":", 1)[1])
        return cls["recall"] if cls and cls["support"] else None
    value = m.get(metric)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def accuracy_targets(r: dict[str, Any], recipe_targets: Sequence[dict[str, Any]]) -> list[Target]:
    """The recipe's targets on the shipped model, then the distillation tolerance per head."""
    out: list[Target] = []
    corpus_models = (r.get("corpus") or {}).get("models", {})
    student = (corpus_models.get("shipped") or {}).get("metrics", {})
    he_models = (r.get("he_fb") or {}).get("models", {})
    he_fb = he_models.get("shipped")

    def others(models: dict[str, Any], head: str, lang: str, metric: str, nested: bool) -> str:
        """The same figure for the other models, as the 'why' of a miss."""
        parts = []
        for name, res in models.items():
            if name == "shipped" or not res:
                continue
            m = (res.get("metrics") or {}).get(head) if nested else res
            g = (m or {}).get("all") if lang == "all" else (m or {}).get("by_language", {}).get(lang)
            value = _metric(g, metric) if g else None
            if value is not None:
                parts.append(f"{name}: {value:.3f}")
        return ("on the same rows, " + ", ".join(parts)) if parts else ""

    for t in recipe_targets:
        source, head, metric, floor = str(t.get("source")), str(t.get("head")), str(t.get("metric")), float(t.get("min", 0))
        if source == "corpus" and head in student:
            for lang in t.get("languages") or ["all"]:
                m = student[head]["all"] if lang == "all" else student[head].get("by_language", {}).get(lang)
                value = _metric(m, metric) if m else None
                out.append(Target.at_least(f"corpus test {head} {metric} ({lang})", floor, value, "",
                                           why=others(corpus_models, head, lang, metric, True)))
        elif source == "he_fb" and he_fb is not None and head == "sentiment":
            out.append(Target.at_least(f"Hebrew FB sentiment {metric}", floor, _metric(he_fb["all"], metric), "",
                                       why=others(he_models, head, "all", metric, False)))
        else:
            out.append(Target(f"{source} {head} {metric}", f"≥ {floor:g}", None, "", None, "not measured",
                              "no such evaluation in this run"))
    teacher = (r.get("corpus") or {}).get("models", {}).get("teacher", {}).get("metrics", {})
    for head, m in student.items():
        if head in teacher:
            gap = (teacher[head]["all"]["macro_f1"] - m["all"]["macro_f1"]) * 100
            out.append(Target.at_most(f"distillation: teacher − student macro-F1, {head} (points)",
                                      DISTILL_MAX_DROP_POINTS, round(gap, 2), "points",
                                      why="the student has fewer layers (see the model card for its recipe)"))
    if student and not teacher:
        out.append(Target("distillation: teacher − student macro-F1 (points), every head",
                          f"≤ {DISTILL_MAX_DROP_POINTS:g} points", None, "points", None, "not measured",
                          r.get("teacher_note", "no teacher found")))
    return out


# --------------------------------------------------------------------------------------------------
# The run


def run(args: argparse.Namespace) -> dict[str, Any]:
    notes = Notes()
    smoke: bool = args.smoke
    out_dir = results_dir(smoke, args.out)
    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-accuracy-"))

    def section(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:
            if smoke:
                raise
            notes.add(f"{name} failed: {type(exc).__name__}: {exc}")
            log(traceback.format_exc())
            return None

    corpus_dir = find_corpus_dir(args.corpus)
    if corpus_dir is None:
        raise SystemExit("error: no corpus found (data/corpus/test.jsonl or /tmp/corpus/test.jsonl); pass --corpus")
    if corpus_dir != ROOT / "data" / "corpus":
        notes.add(f"the corpus was read from {corpus_dir}, not data/corpus")

    model_dir: Path | None = args.model
    teacher_dir: Path | None = args.teacher
    if model_dir is None and smoke:
        from bench.common import load_corpus_posts
        from bench.speed.torch_baseline import build_tiny_artifact, build_tiny_checkpoint

        texts, _ = load_corpus_posts(corpus_dir)
        model_dir = build_tiny_artifact(tmp / "tiny-model", texts[:2000])
        notes.add(f"smoke: tiny random model in {model_dir} (its numbers mean nothing)")
        if teacher_dir is None:
            teacher_dir = build_tiny_checkpoint(tmp / "tiny-teacher", model_dir / "tokenizer.json")
            notes.add(f"smoke: tiny random training checkpoint as the teacher in {teacher_dir}")
    elif model_dir is None:
        model_dir = DEFAULT_MODEL_DIR
    if not (model_dir / "manifest.json").is_file():
        raise SystemExit(f"error: no model at {model_dir} (no manifest.json). Train and export one "
                         "(`triage train`, `triage export`) or pass --model DIR.")
    results: dict[str, Any] = run_header("accuracy", smoke=smoke, model_dir=model_dir)
    limits: dict[str, int | None] = {"test": 40, "train": 150} if smoke else {"test": None, "train": None}

    student, how = load_model(model_dir, args.threads)
    models: dict[str, Any] = {"shipped": student}
    described = {"shipped": f"{student.version}: {how}"}
    teacher_dir = teacher_dir or find_teacher(model_dir, None)
    if teacher_dir is not None:
        teacher = section("loading the teacher", lambda: load_model(Path(teacher_dir), args.threads))
        if teacher:
            models["teacher"] = teacher[0]
            described["teacher"] = f"{teacher_dir}: {teacher[1]}"
    else:
        results["teacher_note"] = ("no teacher: the manifest does not name a distilled student with a "
                                   "runs/<recipe>/teacher checkpoint; pass --teacher")
        notes.add(results["teacher_note"])
    results["models"] = described
    recipe, recipe_source = training_config(model_dir)
    recipe_targets = ((recipe.get("export") or {}).get("targets")) or []
    results["targets_source"] = recipe_source

    # Project test split -------------------------------------------------------------------------------------
    from training.evaluate import baseline_metrics, labeled_heads

    schema = student.schema
    test = read_rows(corpus_dir / "test.jsonl", limits["test"], tmp, head_names=schema.head_names)
    train = read_rows(corpus_dir / "train.jsonl", limits["train"], tmp, head_names=schema.head_names)
    heads = labeled_heads(test, schema)
    log(f"corpus test: {len(test)} posts, heads {[h.name for h in heads]}; TF-IDF trained on {len(train)}")
    if smoke:
        needs = None
        notes.add("smoke: engine routing (needs_human) is skipped: it loads every language and spaCy model (slow)")
    else:
        needs = section("engine routing", lambda: engine_needs_human(model_dir, [r.text for r in test], args.threads))
    corpus: dict[str, Any] = {"dir": str(corpus_dir), "n": len(test), "train_rows": len(train), "models": {},
                              "needs_human_source": needs[1] if needs else "not measured"}
    for name, clf in models.items():
        log(f"corpus test: {name}")
        corpus["models"][name] = section(f"corpus {name}", functools.partial(
            evaluate_corpus, clf, test, heads, with_automation=True,
            needs_human=(needs[0] if needs and clf is student else None)))
    log("corpus test: TF-IDF baseline")
    corpus["models"]["tfidf"] = section("corpus TF-IDF", lambda: {"n": len(test),
                                                                  "metrics": baseline_metrics(train, test, heads)})
    results["corpus"] = corpus

    # Public sets ------------------------------------------------------------------------------------------------
    datasets = args.shared or SHARED_DATASETS
    if (datasets / "he-sentiment-facebook").is_dir():
        log("Hebrew Facebook sentiment")
        results["he_fb"] = section("Hebrew FB", lambda: evaluate_he_fb(
            models, datasets / "he-sentiment-facebook", limits, tmp))
    else:
        notes.add(f"{datasets}/he-sentiment-facebook is absent: the Hebrew public benchmark is skipped")
    if (datasets / "en-complaints-severity").is_dir():
        log("English complaints")
        results["complaints"] = section("complaints", lambda: evaluate_complaints(
            models, model_dir, datasets / "en-complaints-severity", limits))
    else:
        notes.add(f"{datasets}/en-complaints-severity is absent: the English public benchmark is skipped")

    results["targets"] = accuracy_targets(results, recipe_targets)
    results["notes"] = notes.items
    json_path, md_path = write_results("accuracy", results, accuracy_markdown(results), out_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"wrote {json_path} and {md_path}")
    return results


# --------------------------------------------------------------------------------------------------
# Report


def _head_rows(corpus: dict[str, Any]) -> list[list[object]]:
    rows = []
    for name, res in corpus["models"].items():
        if not res:
            continue
        for head, m in res["metrics"].items():
            groups = [("all", m["all"]), *list(m.get("by_language", {}).items())]
            for lang, g in groups:
                crit = g["per_class"].get("critical")
                rows.append([head, lang, name, g["n"], g["accuracy"], g["macro_f1"], g.get("ece"),
                             crit["recall"] if crit and crit["support"] else None])
    return sorted(rows, key=lambda x: (str(x[0]), str(x[1]) != "all", str(x[1]), str(x[2])))


def accuracy_markdown(r: dict[str, Any]) -> str:
    lines = [f"# Accuracy benchmark{' (SMOKE RUN: tiny inputs and a random model, numbers mean nothing)' if r['smoke'] else ''}",
             "", machine_markdown(r), ""]
    lines += ["Models: " + "; ".join(f"**{k}** — {v}" for k, v in r.get("models", {}).items()) + ".", "",
              f"Targets from: `{r.get('targets_source')}`.", ""]
    lines += ["## Targets", "", targets_table(r["targets"]), ""]
    corpus = r.get("corpus") or {}
    if corpus:
        lines += [f"## Project test split ({corpus['n']} posts; TF-IDF trained on {corpus['train_rows']})", "",
                  md_table(["head", "language", "model", "n", "accuracy", "macro-F1", "ECE", "critical recall"],
                           _head_rows(corpus)), ""]
        student = (corpus["models"].get("shipped") or {}).get("metrics", {})
        for head, m in student.items():
            labels = list(m["all"]["per_class"])
            rows = []
            for name, res in corpus["models"].items():
                if res and head in res["metrics"]:
                    pc = res["metrics"][head]["all"]["per_class"]
                    rows.append([name, *[pc[lab]["f1"] if pc[lab]["support"] else None for lab in labels]])
            lines += [f"### Per-class F1: {head}", "", md_table(["model", *labels], rows), ""]
        auto = (corpus["models"].get("shipped") or {}).get("automation")
        if auto:
            lines += ["## Sent to a person, and the accuracy of the rest (shipped model)", ""]
            rows = []
            for key, label in (("engine_routing", f"engine routing `needs_human` ({corpus.get('needs_human_source')})"),
                               ("uncertain_any_head", "model thresholds: any head uncertain")):
                x = auto.get(key)
                if x:
                    rows.append([label, f"{x['share_to_person']:.1%}", x["automated"],
                                 *[x.get(f"accuracy_{h}") for h in student], x["accuracy_all_heads"]])
            lines += [md_table(["rule", "to a person", "automated posts", *[f"accuracy {h}" for h in student],
                                "all heads right"], rows), "",
                      f"All heads right on every post: {fmt(auto['accuracy_all_heads_everything'])}. Thresholds: "
                      + ", ".join(f"{h} {v:.2f} (margin {auto['min_margins'][h]:.2f})" for h, v in auto["thresholds"].items())
                      + ".", "", "### Automation curve (threshold on the least confident head)", "",
                      md_table(["threshold", "coverage", "accuracy, all heads",
                                *[f"{h}: coverage / accuracy" for h in student]],
                               [[c["threshold"], f"{c['coverage']:.1%}", c["accuracy_all_heads"],
                                 *[f"{c[f'coverage_{h}']:.1%} / {fmt(c[f'accuracy_{h}'])}" for h in student]]
                                for c in auto["curve"]]), ""]
    he = r.get("he_fb")
    if he:
        rows = [[name, m["all"]["n"], m["all"]["accuracy"], m["all"]["macro_f1"],
                 *[m["all"]["per_class"][lab]["f1"] for lab in ("negative", "neutral", "positive")]]
                for name, m in he["models"].items()]
        lines += [f"## Hebrew Facebook sentiment, test_gold ({he['n']} comments; TF-IDF trained on train.tsv, "
                  f"{he['train_rows']} rows)", "",
                  md_table(["model", "n", "accuracy", "macro-F1", "F1 negative", "F1 neutral (off-topic)",
                            "F1 positive"], rows), "", "Reported figures:", "",
                  md_table(["system", "accuracy", "macro-F1", "note"], HE_FB_REFERENCE), ""]
    comp = r.get("complaints")
    if comp:
        rows = []
        for name, m in comp["models"].items():
            rows.append([name, m["complaint_all"].get("accuracy"), m["complaint_all"].get("macro_f1"),
                         m["complaint_brand_addressed"].get("n"), m["complaint_brand_addressed"].get("accuracy"),
                         m["complaint_brand_addressed"].get("macro_f1"), m["complaint_brand_addressed"].get("f1_complaint"),
                         m["sentiment_brand_addressed"].get("accuracy"), m["sentiment_brand_addressed"].get("macro_f1")])
        lines += [f"## English complaints to brands, held-out test split ({comp['n']} tweets, "
                  f"{comp['n_brand_addressed']} brand-addressed; {comp['split']})", "",
                  f"Complaint = {comp['complaint_rule']} for our models; TF-IDF is trained on the complaint label of "
                  "the train split.", "",
                  md_table(["model", "complaint acc (all)", "complaint macro-F1 (all)", "n brand", "complaint acc (brand)",
                            "complaint macro-F1 (brand)", "F1 complaint (brand)", "sentiment acc (brand)",
                            "sentiment macro-F1 (brand)"], rows), "", "Reported figures (other splits):", "",
                  md_table(["system", "figure", "protocol"], COMPLAINTS_REFERENCE), ""]
    if r.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in r["notes"]], ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy.run", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: models/default)")
    parser.add_argument("--teacher", type=Path, default=None,
                        help="teacher: a training checkpoint or run folder, or an exported model folder "
                             "(default: runs/<recipe>/teacher when the model is a distilled student)")
    parser.add_argument("--smoke", action="store_true",
                        help="a few rows and a tiny random model (unless --model); results go to a temp folder")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: bench/results)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus, /tmp/corpus)")
    parser.add_argument("--shared", type=Path, default=None, help="public datasets folder (default: ../shared/datasets)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads (default 2)")
    args = parser.parse_args(argv)
    results = run(args)
    for t in results["targets"]:
        status = {True: "met", False: f"MISSED by {t.miss_by}", None: "not measured"}[t.met]
        print(f"{t.name}: {fmt(t.measured)} (target {t.target}) -> {status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

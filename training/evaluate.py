"""``evaluate(model_dir, data_path)``: metrics JSON, a Markdown report and a confusion matrix per head.

Any labeled JSONL / CSV / TSV goes in (columns configurable; the public datasets of ``../shared`` are
recognised by their folder name). The model runs through the real runtime
(``triage.classify.onnx_model.OnnxClassifier``) on the texts normalised as the engine normalises them.
Per head: accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix and the expected
calibration error — overall and per language when the file has languages. Beside it, a TF-IDF
(character 2–5-grams + word 1–2-grams) + logistic-regression baseline trained on the same training
split (``baseline_train``, or the ``train`` file beside a ``test`` file) is reported side by side.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


def evaluate_test_sets(model_dir: Path, data: Any, schema: LabelSchema, threads: int = 2) -> dict[str, Any]:
    """Every test split of a training run's sources: the model and the baseline trained on its train split."""
    from triage.classify.onnx_model import OnnxClassifier

    clf = OnnxClassifier(model_dir, threads=threads, batch_size=64)
    results = {}
    for source, examples in data.test.items():
        rows = examples_to_rows(examples, schema.heads)
        heads = labeled_heads(rows, schema)
        if not heads:
            continue
        train_rows = examples_to_rows(data.train.get(source, []), schema.heads)
        results[source] = {"n": len(rows), "model": model_metrics(clf, rows, heads),
                           "baseline": baseline_metrics(train_rows, rows, heads) if train_rows else {}}
        log.info("test %s: %s", source, {h: round(m["all"]["macro_f1"], 4) for h, m in results[source]["model"].items()})
    return results


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
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8,
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

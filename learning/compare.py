"""The gate before a model goes live: score candidate and current model on the same rows, per head.

Suites (each scored through the real runtime, ``OnnxClassifier``, on cleaned texts):

- ``real_test`` — the project's labeled real posts, test split (``data/real``, kind ``real_labels``,
  brands training never saw; texts from ``../shared/datasets``), read by ``training.evaluate.read_real_split``;
- ``corrections_heldout`` — the corrections of the posts warm-start training holds out (one post in five,
  ``training.warmstart.is_holdout``): what the agents said, on posts the candidate never trained on;
- ``corrections_all`` — every correction (reported, never gated: the candidate trained on most of them).

A head of a gated suite **regresses** when the candidate's macro-F1 is lower than the current model's by
more than ``margin`` (default 0.02, two points) on at least ``min_rows`` rows. Any regression fails the
comparison, and ``learning.registry`` refuses to promote a model whose last comparison against the live
model failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learning.registry import now_iso
from training.evaluate import model_metrics
from training.sources import LabeledRow, clean_text
from training.warmstart import is_holdout
from triage.schema import HeadSpec

GATED = ("real_test", "corrections_heldout")
DEFAULT_MARGIN = 0.02
MIN_ROWS = 10


def correction_rows(rows: Sequence[dict[str, Any]], heads: Sequence[HeadSpec], *, heldout: bool | None,
                    ) -> list[LabeledRow]:
    """One labeled row per corrected post (latest label per head); ``heldout``: only held-out (True), only
    trained-on (False) or all (None) posts."""
    names = {h.name: set(h.labels) for h in heads}
    posts: dict[str, LabeledRow] = {}
    for r in rows:
        if r.get("head") not in names or r.get("label") not in names[r["head"]]:
            continue
        post_id = str(r["post_id"])
        if heldout is not None and is_holdout(post_id) != heldout:
            continue
        text = clean_text(str(r.get("redacted_text") or ""))
        if text:
            row = posts.setdefault(post_id, LabeledRow(text, {}, None))
            row.text = text
            row.labels[r["head"]] = r["label"]
    return list(posts.values())


def _suite(classifiers: dict[str, Any], rows: list[LabeledRow], heads: Sequence[HeadSpec]) -> dict[str, Any]:
    used = [h for h in heads if any(h.name in r.labels for r in rows)]
    if not rows or not used:
        return {"n": 0, "heads": {}}
    scored = {name: model_metrics(clf, rows, used) for name, clf in classifiers.items()}
    out = {}
    for h in used:
        cand, curr = scored["candidate"][h.name]["all"], scored["current"][h.name]["all"]
        n = sum(1 for r in rows if h.name in r.labels)
        out[h.name] = {"n": n, "candidate": {"macro_f1": round(cand["macro_f1"], 4),
                                             "accuracy": round(cand["accuracy"], 4)},
                       "current": {"macro_f1": round(curr["macro_f1"], 4), "accuracy": round(curr["accuracy"], 4)},
                       "delta_macro_f1": round(cand["macro_f1"] - curr["macro_f1"], 4),
                       "delta_accuracy": round(cand["accuracy"] - curr["accuracy"], 4)}
    return {"n": len(rows), "heads": out}


def _real_rows(split: str, limit: int | None) -> tuple[list[LabeledRow], str | None]:
    from training.evaluate import read_real_split

    try:
        data = read_real_split(split)
    except Exception as exc:  # ../shared/datasets absent: say so, do not guess
        return [], f"real {split} split unavailable: {type(exc).__name__}: {exc}"
    return (data.rows[:limit] if limit else data.rows), None


def regressions(suites: dict[str, Any], margin: float, min_rows: int) -> list[str]:
    """``suite/head`` where the candidate is worse than the current model by more than the margin."""
    out = []
    for suite in GATED:
        for head, m in suites.get(suite, {}).get("heads", {}).items():
            if m["n"] >= min_rows and m["delta_macro_f1"] < -margin:
                out.append(f"{suite}/{head}: macro-F1 {m['candidate']['macro_f1']:.3f} vs "
                           f"{m['current']['macro_f1']:.3f} "
                           f"({m['delta_macro_f1']:+.3f} < -{margin:g}, n={m['n']})")
    return out


def compare(candidate: Path, current: Path, feedback_rows: Sequence[dict[str, Any]], *, margin: float = DEFAULT_MARGIN,
            min_rows: int = MIN_ROWS, real_split: str = "test", real_limit: int | None = None,
            threads: int = 2) -> dict[str, Any]:
    """Candidate vs current model on every suite; ``passed`` unless a gated head regressed beyond ``margin``."""
    from triage.classify.onnx_model import OnnxClassifier

    classifiers = {"candidate": OnnxClassifier(Path(candidate), threads=threads, batch_size=64),
                   "current": OnnxClassifier(Path(current), threads=threads, batch_size=64)}
    heads = [h for h in classifiers["candidate"].schema.public_heads
             if h.name in {x.name for x in classifiers["current"].schema.public_heads}]
    notes = []
    real, note = _real_rows(real_split, real_limit)
    if note:
        notes.append(note)
    suites = {
        "real_test": _suite(classifiers, real, heads),
        "corrections_heldout": _suite(classifiers, correction_rows(feedback_rows, heads, heldout=True), heads),
        "corrections_all": _suite(classifiers, correction_rows(feedback_rows, heads, heldout=None), heads),
    }
    found = regressions(suites, margin, min_rows)
    return {"candidate": classifiers["candidate"].version, "current": classifiers["current"].version, "at": now_iso(),
            "margin": margin, "min_rows": min_rows, "real_split": real_split, "suites": suites,
            "regressions": found, "passed": not found, "notes": notes}


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The comparison as a table a person reads before promoting."""
    lines = [f"candidate {result['candidate']} vs current {result['current']} (margin {result['margin']:g} macro-F1)",
             f"{'suite':<22} {'head':<10} {'n':>5} {'current F1':>11} {'candidate F1':>13} {'delta':>7}"]
    for suite, s in result["suites"].items():
        for head, m in s["heads"].items():
            lines.append(f"{suite:<22} {head:<10} {m['n']:>5} {m['current']['macro_f1']:>11.3f} "
                         f"{m['candidate']['macro_f1']:>13.3f} {m['delta_macro_f1']:>+7.3f}")
    lines += [f"note: {n}" for n in result.get("notes", [])]
    verdict = "PASSED: no gated head regressed" if result["passed"] else "FAILED: " + "; ".join(result["regressions"])
    return [*lines, verdict]

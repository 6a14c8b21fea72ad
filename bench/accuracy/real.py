"""The real-text part of the accuracy benchmark: labeled real posts of brands no model trained on.

Every exported model folder runs through ``training.evaluate.evaluate_real`` (the runtime per language and
head, then the whole engine for ``needs_human``), so the bench, ``triage evaluate --real`` and the model
card compute the same figures. The TF-IDF baseline trains on the real *and* the written training splits,
with the features of the written-corpus baseline (``training.evaluate.baseline_metrics``).

A results file from an earlier run can stand in for a model folder that is gone (``--compare
bench/results/accuracy.json``): each section carries a fingerprint of its test rows, and a stored figure is
used only where the fingerprint matches.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import fmt, md_table
from training.evaluate import (
    EvalView,
    RealSplit,
    SilentErrors,
    add_frequent_macro_f1,
    baseline_metrics,
    evaluate_real,
    labeled_heads,
    language_order,
    model_metrics,
    read_real_split,
    written_train_rows,
)


def fingerprint(rows: Sequence[Any]) -> str:
    """sha256 of the test rows (text, labels, language): equal fingerprints mean the same test set."""
    items = [[r.text, sorted((getattr(r, "labels", None) or getattr(r, "signals", {})).items()),
              getattr(r, "language", None)] for r in rows]
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()


def _keep(n_rows: int, n: int | None, seed: int = 0) -> list[int]:
    """Indices of a seeded sample of ``n`` rows (all rows when ``n`` is None): smoke runs keep it small."""
    return list(range(n_rows)) if n is None or n_rows <= n else sorted(random.Random(seed).sample(range(n_rows), n))


def evaluate_real_section(folders: dict[str, Path], others: dict[str, Any], real_dir: Path, texts: Path,
                          corpus_dir: Path, limits: dict[str, int | None], *, engine: bool,
                          threads: int) -> dict[str, Any]:
    """Every model on the real test split; TF-IDF trained on real train + written train.

    ``folders``: exported models (runtime + engine); ``others``: loaded classifiers without a folder (a
    teacher checkpoint), scored through their own ``predict`` only.
    """
    full = read_real_split("test", real_dir, texts)
    keep = _keep(len(full.rows), limits["test"])
    test = RealSplit("test", [full.rows[i] for i in keep], [full.channels[i] for i in keep])
    pool = read_real_split("train", real_dir, texts).rows + written_train_rows(corpus_dir,
                                                                               ("intent", "sentiment", "urgency"))
    train = [pool[i] for i in _keep(len(pool), limits["train"])]
    models: dict[str, Any] = {}
    for name, folder in folders.items():
        models[name] = evaluate_real(folder, test, threads=threads, engine=engine).model_dump(mode="python")
    for name, clf in others.items():
        per_head = model_metrics(clf, test.rows, labeled_heads(test.rows, clf.schema))
        add_frequent_macro_f1(per_head)
        models[name] = {"model": per_head}
    first = next(iter(models.values()))["model"]
    heads = [h for h in labeled_heads(test.rows, _schema_of(folders, others)) if h.name in first]
    tfidf = baseline_metrics(train, test.rows, heads)
    add_frequent_macro_f1(tfidf)
    models["tfidf"] = {"model": tfidf}
    languages = [r.language or "unknown" for r in test.rows]
    return {"split": "test", "n": len(test.rows), "train_rows": len(train), "fingerprint": fingerprint(test.rows),
            "n_by_language": {lang: languages.count(lang) for lang in sorted(set(languages))},
            "decided_by": "the whole engine's routing.needs_human (default brand policy)" if engine
            else "the model's thresholds (smoke: the engine is not loaded)", "models": models}


def _schema_of(folders: dict[str, Path], others: dict[str, Any]) -> Any:
    from triage.artifact import verify_artifact

    if folders:
        return verify_artifact(next(iter(folders.values()))).label_schema
    return next(iter(others.values())).schema


def view_of(results: dict[str, Any], key: str, previous: str | None = None) -> EvalView:
    """The bars' view of one model of a results dict (``previous``: the model compared with, if any)."""
    def per_role(name: str | None) -> dict[str, Any]:
        if name is None:
            return {}
        real = ((results.get("real") or {}).get("models") or {}).get(name) or {}
        corpus = ((results.get("corpus") or {}).get("models") or {}).get(name) or {}
        he_fb = ((results.get("he_fb") or {}).get("models") or {}).get(name)
        return {"real": real.get("model") or {}, "written": corpus.get("metrics") or {},
                "he_fb": {"sentiment": he_fb} if he_fb else {}}

    real = ((results.get("real") or {}).get("models") or {}).get(key) or {}
    silent = {k: SilentErrors.model_validate(v) for k, v in (real.get("silent") or {}).items()}
    return EvalView(per_role(key), silent, per_role(previous))


# --------------------------------------------------------------------------------------------------
# Results of an earlier run as the compared model


def stored_model(path: Path) -> tuple[str, dict[str, Any]]:
    """(label, results) of an earlier accuracy.json: its main model's figures stand in for ``--compare``."""
    stored = json.loads(Path(path).read_text(encoding="utf-8"))
    label = (stored.get("labels") or {}).get("shipped") or (stored.get("model") or {}).get("version") or str(path)
    return label, stored


def merge_stored(results: dict[str, Any], stored: dict[str, Any], name: str, notes: Any) -> None:
    """Copy the stored run's main-model figures in as model ``name``, section by section, where the rows match."""
    for section in ("real", "corpus", "he_fb", "complaints"):
        ours, theirs = results.get(section), stored.get(section)
        if not ours or not theirs:
            continue
        if not ours.get("fingerprint") or ours.get("fingerprint") != theirs.get("fingerprint"):
            notes.add(f"--compare: the stored {section} figures were measured on other rows (fingerprint differs "
                      "or is missing); not compared")
            continue
        figures = (theirs.get("models") or {}).get("shipped")
        if figures:
            ours["models"][name] = figures
        if theirs.get("test_split_changed"):  # the stored model's own caveat travels with its figures
            ours.setdefault("test_split_changed", []).append(name)
            notes.add(f"--compare: the stored model was trained beside another version of the {section} test split: "
                      "its figures there are too good")


# --------------------------------------------------------------------------------------------------
# Report


def real_markdown(real: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """One section per language (Hebrew, then English), then silent errors."""
    lines: list[str] = []
    names = {"he": "Hebrew", "en": "English"}
    for lang in sorted(real["n_by_language"], key=language_order):
        lines += [f"## Real posts, test split (brands never seen): {names.get(lang, lang)} "
                  f"({real['n_by_language'][lang]} posts)", "", md_table(
                      ["head", "model", "n", "accuracy", "macro-F1", "macro-F1, classes ≥ 10", "ECE"],
                      _real_rows(real, labels, lang)), ""]
        lines += _per_class(real, labels, lang)
    lines += ["## Sent to a person, and silent errors (real test split)", "",
              f"Who goes to a person: {real['decided_by']}; a silent error is a post wrong on any head that no "
              "person is asked to check.", "", md_table(
                  ["language", "model", "posts", "sent to a person", "silent errors", "wrong on any head",
                   "automated posts right on every head"], _silent_rows(real, labels)), ""]
    return lines


def _real_rows(real: dict[str, Any], labels: dict[str, str], lang: str) -> list[list[object]]:
    rows = []
    heads = list(next(iter(real["models"].values()))["model"])
    for head in heads:
        for name, res in real["models"].items():
            g = (res["model"].get(head) or {}).get("by_language", {}).get(lang)
            if g:
                rows.append([head, labels.get(name, name), g["n"], g["accuracy"], g["macro_f1"],
                             g.get("macro_f1_frequent"), g.get("ece")])
    return rows


def _per_class(real: dict[str, Any], labels: dict[str, str], lang: str) -> list[str]:
    lines = []
    heads = list(next(iter(real["models"].values()))["model"])
    for head in heads:
        rows, classes = [], None
        for name, res in real["models"].items():
            g = (res["model"].get(head) or {}).get("by_language", {}).get(lang)
            if not g:
                continue
            classes = classes or [c for c, v in g["per_class"].items() if v["support"]]
            rows.append([labels.get(name, name), *[g["per_class"][c]["f1"] for c in classes]])
        if rows and classes:
            support = next(iter(real["models"].values()))["model"][head]["by_language"][lang]["per_class"]
            header = [f"{c} (n={support[c]['support']})" for c in classes]
            lines += [f"Per-class F1, {head} ({lang}):", "", md_table(["model", *header], rows), ""]
    return lines


def _silent_rows(real: dict[str, Any], labels: dict[str, str]) -> list[list[object]]:
    rows = []
    for name, res in real["models"].items():
        for lang, s in sorted((res.get("silent") or {}).items(), key=lambda kv: (kv[0] == "all",
                                                                                 language_order(kv[0]))):
            rows.append([lang, labels.get(name, name), s["n"], f"{s['to_person']} ({s['human_share']:.1%})",
                         f"{s['silent_errors']} ({s['silent_error_rate']:.1%})", s["wrong_any_head"],
                         fmt(s.get("automated_all_heads_right"))])
    return rows

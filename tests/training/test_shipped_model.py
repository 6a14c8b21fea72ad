"""The shipped default model (models/default) loads, is small, and meets a floor on a public benchmark slice.

The floor is a few points under what the shipped model measured on this exact slice (first 300 rows of
he-sentiment-facebook's test split, never trained on), so that a broken export or runtime fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_shared
from triage.artifact import verify_artifact
from triage.classify.onnx_model import OnnxClassifier
from triage.schema import LabelSchema

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "default"
SLICE = 300
# The shipped model (triage-default@3: 12-layer int8, recipe training/configs/default.yaml) measures accuracy
# 0.860 and macro-F1 0.651 on this 300-row slice (0.835 / 0.614 on the whole test split): the floors sit a few
# points under, so a broken export or runtime fails the test.
ACCURACY_FLOOR = 0.83
MACRO_F1_FLOOR = 0.60


def _require_model() -> Path:
    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip(f"no shipped model at {SHIPPED} (train one with `triage train` + `triage export`)")
    return SHIPPED


def test_shipped_model_is_complete_small_and_matches_the_default_schema(default_schema: LabelSchema) -> None:
    manifest = verify_artifact(_require_model())
    assert manifest.label_schema.head_names == default_schema.head_names
    for head in default_schema.heads:
        assert manifest.label_schema.head(head.name).labels == head.labels
    total = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert total < 60 * 1024 * 1024, f"models/default is {total / 2**20:.1f} MiB"
    assert {"README.md", "metrics.json", "training_config.json"} <= set(manifest.files)


def test_shipped_model_meets_the_floor_on_the_hebrew_sentiment_benchmark_slice() -> None:
    model_dir = _require_model()
    from training.sources import read_labeled_file  # needs `datasets` (train extra) for reading the TSV

    rows = read_labeled_file(require_shared() / "he-sentiment-facebook" / "test_gold.tsv")[:SLICE]
    clf = OnnxClassifier(model_dir, threads=2)
    labels = clf.schema.head("sentiment").labels
    probs = clf.predict([r.text for r in rows]).probabilities["sentiment"]
    pred = probs.argmax(axis=1)
    y = np.array([labels.index(r.labels["sentiment"]) for r in rows])
    accuracy = float((pred == y).mean())
    f1s = []
    for c in sorted(set(y.tolist())):
        tp = int(((pred == c) & (y == c)).sum())
        denom = int((pred == c).sum() + (y == c).sum())
        f1s.append(2 * tp / denom if denom else 0.0)
    assert accuracy >= ACCURACY_FLOOR, accuracy
    assert float(np.mean(f1s)) >= MACRO_F1_FLOOR, np.mean(f1s)


# Real text first: the first 300 Hebrew posts of the real test split (banks the model never saw). The shipped
# model measures intent accuracy REAL_INTENT_MEASURED there; the floor sits a few points under it.
REAL_SLICE = 300
REAL_INTENT_MEASURED = 0.820  # triage-default@3 (the previous default, triage-default@1: 0.570 on the split)
REAL_INTENT_FLOOR = 0.78


def test_shipped_model_meets_the_floor_on_real_hebrew_posts() -> None:
    model_dir = _require_model()
    from training.real.labels import labeled_posts

    posts = [p for p in labeled_posts(ROOT / "data" / "real", require_shared())
             if p.sample.split == "test" and p.language == "he"][:REAL_SLICE]
    assert len(posts) == REAL_SLICE
    clf = OnnxClassifier(model_dir, threads=2)
    labels = clf.schema.head("intent").labels
    pred = clf.predict([p.post.text for p in posts]).probabilities["intent"].argmax(axis=1)
    accuracy = float(np.mean([labels[i] == p.labels["intent"] for i, p in zip(pred, posts, strict=True)]))
    assert accuracy >= REAL_INTENT_FLOOR, accuracy


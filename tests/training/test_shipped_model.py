"""The shipped model (models/default) and, when taken from the history, models/teacher load, are small, and meet
floors on real and public slices.

Each floor is a few points under what that model measured on the exact slice (first 300 rows of
he-sentiment-facebook's test split, never trained on; the first 300 Hebrew posts of the real test split), so
that a broken export or runtime fails loudly.
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
SLICE = 300
# What each shipped model measures on the he-sentiment-facebook slice (accuracy, macro-F1) and the floors a few
# points under. default = triage-default@4 (6 layers, distilled; 0.848 / 0.620 on the whole split); teacher =
# triage-default@3 (12 layers, the previous default; 0.835 / 0.614 on the whole test split).
MEASURED = {"default": (0.887, 0.701), "teacher": (0.860, 0.651)}
FLOORS = {"default": (0.85, 0.65), "teacher": (0.83, 0.60)}
SHIPPED_MODELS = sorted(FLOORS)


def _require_model(name: str = "default") -> Path:
    folder = ROOT / "models" / name
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"no shipped model at {folder} (train one with `triage train` + `triage export`)")
    return folder


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_model_is_complete_small_and_matches_the_default_schema(name: str, default_schema: LabelSchema
                                                                        ) -> None:
    folder = _require_model(name)
    manifest = verify_artifact(folder)
    assert manifest.label_schema.head_names == default_schema.head_names
    for head in default_schema.heads:
        assert manifest.label_schema.head(head.name).labels == head.labels
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 60 * 1024 * 1024, f"models/{name} is {total / 2**20:.1f} MiB"
    assert {"README.md", "metrics.json", "training_config.json"} <= set(manifest.files)


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_model_meets_the_floor_on_the_hebrew_sentiment_benchmark_slice(name: str) -> None:
    model_dir = _require_model(name)
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
    accuracy_floor, macro_f1_floor = FLOORS[name]
    assert accuracy >= accuracy_floor, accuracy
    assert float(np.mean(f1s)) >= macro_f1_floor, np.mean(f1s)


# Real text first: the first 300 Hebrew posts of the real test split (banks the model never saw). The shipped
# model measures intent accuracy REAL_INTENT_MEASURED there; the floor sits a few points under it.
REAL_SLICE = 300
# triage-default@4: 0.840, its teacher triage-default@3: 0.820 (triage-default@1: 0.570 on the split).
REAL_INTENT_MEASURED = {"default": 0.840, "teacher": 0.820}
REAL_INTENT_FLOOR = 0.78


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_model_meets_the_floor_on_real_hebrew_posts(name: str) -> None:
    model_dir = _require_model(name)
    from training.real.labels import labeled_posts

    posts = [p for p in labeled_posts(ROOT / "data" / "real", require_shared())
             if p.sample.split == "test" and p.language == "he"][:REAL_SLICE]
    assert len(posts) == REAL_SLICE
    clf = OnnxClassifier(model_dir, threads=2)
    labels = clf.schema.head("intent").labels
    pred = clf.predict([p.post.text for p in posts]).probabilities["intent"].argmax(axis=1)
    accuracy = float(np.mean([labels[i] == p.labels["intent"] for i, p in zip(pred, posts, strict=True)]))
    assert accuracy >= REAL_INTENT_FLOOR, accuracy


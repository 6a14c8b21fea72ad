"""The ONNX runtime scores each distinct text once, and a repeated text gets exactly its single-text row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from triage.classify.onnx_model import OnnxClassifier

MODEL = Path(__file__).resolve().parents[2] / "models" / "default"


@pytest.fixture(scope="module")
def classifier() -> OnnxClassifier:
    return OnnxClassifier(MODEL, threads=1)


def test_repeated_texts_are_scored_once_and_equal_their_single_rows(classifier: OnnxClassifier,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real_run = classifier._run

    def counting(ids: list[list[int]]) -> dict[str, np.ndarray]:
        seen.append(len(ids))
        return real_run(ids)

    monkeypatch.setattr(classifier, "_run", counting)
    flood = ["זכיתם! לחצו כאן", "האפליקציה קורסת", "זכיתם! לחצו כאן", "זכיתם! לחצו כאן"]
    out = classifier.predict(flood)
    assert sum(seen) == 2  # two distinct texts reached the model
    alone = classifier.predict(["האפליקציה קורסת"])
    for head, probs in out.probabilities.items():
        assert np.array_equal(probs[0], probs[2]) and np.array_equal(probs[0], probs[3])
        assert np.allclose(probs[1], alone.probabilities[head][0], atol=1e-6)
    assert out.embeddings is not None and out.embeddings.shape[0] == 4

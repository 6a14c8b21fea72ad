"""The ONNX runtime scores each distinct text once, a repeated text gets exactly its single-text row, and its
batches are capped by rows and by padded tokens without changing any score."""

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


def test_batches_are_capped_by_rows_and_by_padded_tokens(classifier: OnnxClassifier,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classifier, "batch_size", 4)
    monkeypatch.setattr(classifier, "max_batch_tokens", 100)
    lengths = [5, 5, 5, 5, 5, 30, 30, 30, 40, 120]
    chunks = classifier._chunks(sorted(range(10), key=lambda i: lengths[i]), lengths)
    assert chunks == [[0, 1, 2, 3], [4, 5, 6], [7, 8], [9]]  # rows <= 4, rows x longest <= 100, or one post
    assert all(len(c) <= 4 and (len(c) == 1 or len(c) * max(lengths[i] for i in c) <= 100) for c in chunks)


def test_a_token_cap_changes_how_posts_are_batched_not_their_scores(classifier: OnnxClassifier) -> None:
    texts = ["שירות גרוע, מחכה שבוע לתשובה " * k for k in range(1, 12)] + ["thanks!", "where is my refund?"]
    capped = OnnxClassifier(MODEL, threads=1, max_batch_tokens=64)
    calls: list[int] = []
    real_run = capped._run
    capped._run = lambda ids: (calls.append(len(ids)), real_run(ids))[1]  # type: ignore[method-assign]
    a, b = classifier.predict(texts), capped.predict(texts)
    assert len(calls) > 1  # the cap split what one call would have scored
    for head in a.probabilities:
        assert np.allclose(a.probabilities[head], b.probabilities[head], atol=1e-5)

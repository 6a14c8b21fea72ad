"""The one interface every classifier implements: normalised texts in, per-head probabilities out.

The ONNX model (``triage.classify.onnx_model``) and the fake used in tests (``triage.classify.fake``)
plug into the engine the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from triage.artifact import ModelInfo
from triage.schema import LabelSchema
from triage.types import Classification, HeadPrediction


@dataclass
class ClassifierOutput:
    """Calibrated probabilities per head, shape (n_texts, n_labels), rows summing to 1.

    ``embeddings`` (n_texts, dim), L2-normalised, when the classifier exposes a sentence embedding
    (the reply ranker uses it).
    """

    probabilities: dict[str, np.ndarray]
    embeddings: np.ndarray | None = None


@runtime_checkable
class Classifier(Protocol):
    schema: LabelSchema
    version: str
    info: ModelInfo  # identity, schema and evaluation summary, read once at load
    # Per-head confidence thresholds and minimum top-2 margins (tuned on dev for trained models).
    thresholds: dict[str, float]
    min_margins: dict[str, float]

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        """Score a batch of normalised texts. Must give the same row for a text whatever its batch."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray | None:
        """L2-normalised sentence embeddings, or None when the classifier has none."""
        ...


@dataclass
class HeadDefaults:
    thresholds: dict[str, float] = field(default_factory=dict)
    min_margins: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_schema(cls, schema: LabelSchema) -> HeadDefaults:
        return cls({h.name: h.threshold for h in schema.heads}, {h.name: h.min_margin for h in schema.heads})


def to_classifications(classifier: Classifier, output: ClassifierOutput) -> list[Classification]:
    """Turn raw probability rows into one typed ``Classification`` per text (public heads only)."""
    heads = classifier.schema.public_heads
    n = next(iter(output.probabilities.values())).shape[0] if output.probabilities else 0
    # Per head once for the whole batch: rows as float64 Python lists (the same values float(p) gives) and the
    # top two labels by a stable sort, as before; only the per-row dictionaries are built in the loop.
    per_head = {}
    for head in heads:
        matrix = np.asarray(output.probabilities[head.name], dtype=np.float64)
        order = np.argsort(-matrix, axis=1, kind="stable")[:, :2]
        per_head[head.name] = (matrix.tolist(), order.tolist(),
                               classifier.thresholds.get(head.name, head.threshold),
                               classifier.min_margins.get(head.name, head.min_margin))
    results = []
    for i in range(n):
        preds = {}
        for head in heads:
            rows, orders, threshold, margin_floor = per_head[head.name]
            row, top_two = rows[i], orders[i]
            top = row[top_two[0]]
            second = row[top_two[1]] if len(row) > 1 else 0.0
            preds[head.name] = HeadPrediction(
                label=head.labels[top_two[0]],
                confidence=round(top, 6),
                probabilities={lab: round(p, 6) for lab, p in zip(head.labels, row, strict=True)},
                margin=round(top - second, 6),
                threshold=threshold,
                uncertain=top < threshold or (top - second) < margin_floor,
            )
        results.append(Classification(heads=preds, model_version=classifier.version))
    return results

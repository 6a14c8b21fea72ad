"""A deterministic stand-in classifier for tests and for wiring checks: keyword rules, no model.

It is never used silently in place of a real model: the CLI and the server refuse to start without a
real model unless told to use this explicitly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from triage.artifact import ModelInfo
from triage.classify.base import ClassifierOutput
from triage.schema import LabelSchema


class FakeClassifier:
    """Gives each head the label whose keyword appears in the text, else the head's ``fallback`` label.

    ``rules``: head -> label -> keywords. Probabilities put ``confidence`` on the chosen label and spread
    the rest evenly. Embeddings are a hash of the text's words, so equal texts get equal vectors and
    texts sharing words are close.
    """

    def __init__(
        self,
        schema: LabelSchema,
        rules: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        fallback: Mapping[str, str] | None = None,
        confidence: float = 0.9,
        version: str = "fake-0",
        dim: int = 32,
    ) -> None:
        self.schema = schema
        self.version = version
        self.info = ModelInfo(name="fake", version=version, schema_name=schema.name)
        self.rules = {h: {lab: [k.lower() for k in kws] for lab, kws in labs.items()}
                      for h, labs in (rules or {}).items()}
        self.fallback = dict(fallback or {})
        self.confidence = confidence
        self.thresholds = {h.name: h.threshold for h in schema.heads}
        self.min_margins = {h.name: h.min_margin for h in schema.heads}
        self.dim = dim
        self.calls: list[int] = []

    def _label(self, head: str, labels: list[str], text: str) -> int:
        lowered = text.lower()
        for label, keywords in self.rules.get(head, {}).items():
            if any(k in lowered for k in keywords):
                return labels.index(label)
        return labels.index(self.fallback.get(head, labels[-1]))

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        self.calls.append(len(texts))
        probs = {}
        for head in self.schema.heads:
            n = len(head.labels)
            rows = np.full((len(texts), n), (1.0 - self.confidence) / (n - 1), dtype=np.float32)
            for i, text in enumerate(texts):
                rows[i, self._label(head.name, head.labels, text)] = self.confidence
            probs[head.name] = rows
        return ClassifierOutput(probabilities=probs, embeddings=self.embed(texts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.sha256(word.encode()).digest()
                out[i, digest[0] % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
        return out

"""The engine's own cost per post, outside the model: everything ``Engine.triage`` does but ``session.run``.

The engine runs with a stand-in classifier that returns the real model's outputs for these texts, computed
once up front (the same probabilities and embeddings, so routing and replies take their real paths), and the
per-post CPU time of this process is measured: one post at a time and in batches of 32, best of a few passes.
CPU time rather than wall time: the machine's other load does not count against the engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from triage.classify.base import ClassifierOutput


class RecordedClassifier:
    """Answers ``predict`` from outputs recorded from a real classifier for a fixed set of texts."""

    def __init__(self, inner: Any, texts: Sequence[str]) -> None:
        self.schema, self.version, self.info = inner.schema, inner.version, inner.info
        self.thresholds, self.min_margins = inner.thresholds, inner.min_margins
        self._inner = inner
        self._row = {t: i for i, t in enumerate(texts)}
        self._output: ClassifierOutput = inner.predict(list(texts))

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        rows = [self._row[t] for t in texts]
        emb = self._output.embeddings
        return ClassifierOutput({h: p[rows] for h, p in self._output.probabilities.items()},
                                emb[rows] if emb is not None else None)

    def embed(self, texts: Sequence[str]) -> Any:
        return self._inner.embed(texts)


def _cpu_ms_per_post(fn: Callable[[], object], n: int, passes: int) -> float:
    best = float("inf")
    for _ in range(passes):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return round(best / n * 1000.0, 4)


def engine_outside_model(model_dir: Path, texts: Sequence[str], passes: int = 5) -> dict[str, Any]:
    """CPU ms per post of the whole engine with the model's work taken out (one at a time; batches of 32)."""
    from triage.loading import load_engine
    from triage.text.normalise import normalise
    from triage.types import Post

    engine = load_engine(model_dir, threads=1)
    engine.warm_up()
    engine.classifier = RecordedClassifier(engine.classifier, [normalise(t).text for t in texts])
    posts = [Post(text=t) for t in texts]
    engine.triage_batch(posts[:64])  # lazy parts (language models, patterns) before timing
    one = _cpu_ms_per_post(lambda: [engine.triage(p) for p in posts], len(posts), passes)
    batched = _cpu_ms_per_post(lambda: [engine.triage_batch(posts[i : i + 32]) for i in range(0, len(posts), 32)],
                               len(posts), passes)
    return {"posts": len(posts), "one_at_a_time_cpu_ms": one, "batches_of_32_cpu_ms": batched, "passes": passes}

"""Shadow mode: a candidate model scores live traffic beside the live model, and nobody sees its answers.

``ShadowScorer.submit(results)`` takes the live results of a model call (it only queues their normalised
texts and labels: it never slows or fails a live request), a daemon thread scores them with the candidate
classifier in batches, and ``ShadowStats`` counts per head how often the two agree and which labels they
swap. When the queue is full a post is skipped and counted as ``dropped``; with ``sample`` below 1 only
that share of posts is scored (the candidate costs as much CPU as the live model). Texts stay in memory.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triage.classify.base import Classifier
from triage.types import TriageResult

log = logging.getLogger("triage.learning")
BATCH = 32


@dataclass
class ShadowStats:
    """Agreement of the shadow model with the live one, per head, over the posts scored so far."""

    live: str
    shadow: str
    posts: int = 0
    dropped: int = 0
    failed: int = 0
    agree: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)
    swaps: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, live: dict[str, str], shadow: dict[str, str]) -> None:
        self.posts += 1
        for head, label in live.items():
            if head not in shadow:
                continue
            self.seen[head] += 1
            if shadow[head] == label:
                self.agree[head] += 1
            else:
                self.swaps.setdefault(head, Counter())[f"{label} -> {shadow[head]}"] += 1

    def to_dict(self, top: int = 5) -> dict[str, Any]:
        heads = {h: {"n": n, "agree": self.agree[h], "agreement": round(self.agree[h] / n, 4) if n else None,
                     "top_disagreements": dict(self.swaps.get(h, Counter()).most_common(top))}
                 for h, n in sorted(self.seen.items())}
        all_heads = sum(self.agree.values()) / max(1, sum(self.seen.values())) if self.seen else None
        return {"live": self.live, "shadow": self.shadow, "posts": self.posts, "dropped": self.dropped,
                "failed": self.failed, "agreement": round(all_heads, 4) if all_heads is not None else None,
                "heads": heads}


def argmax_labels(classifier: Classifier, texts: Sequence[str]) -> list[dict[str, str]]:
    """The classifier's top label per public head for each text."""
    probs = classifier.predict(list(texts)).probabilities
    heads = [h for h in classifier.schema.public_heads if h.name in probs]
    picks = {h.name: np.asarray(probs[h.name]).argmax(axis=1) for h in heads}
    return [{h.name: h.labels[int(picks[h.name][i])] for h in heads} for i in range(len(texts))]


class ShadowScorer:
    """A candidate classifier scoring queued live posts on a daemon thread."""

    def __init__(self, classifier: Classifier, live_version: str, *, sample: float = 1.0, queue_size: int = 512,
                 on_compare: Callable[[str, bool], None] | None = None, seed: int = 0) -> None:
        self.classifier = classifier
        self.stats = ShadowStats(live=live_version, shadow=classifier.version)
        self.sample = sample
        self.on_compare = on_compare
        self._queue: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue(maxsize=queue_size)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="triage-shadow", daemon=True)
        self._thread.start()

    def submit(self, results: Sequence[TriageResult]) -> None:
        """Queue live results for the shadow (never blocks; a full queue drops and counts)."""
        for result in results:
            if self.sample < 1.0 and self._rng.random() >= self.sample:
                continue
            live = {h: pred.label for h, pred in result.heads.items()}
            with self._lock:
                try:
                    self._queue.put_nowait((result.normalised_text, live))
                    self._pending += 1
                except queue.Full:
                    self.stats.dropped += 1

    def _take_batch(self) -> list[tuple[str, dict[str, str]]] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # let the loop see the stop after this batch
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            try:
                labels = argmax_labels(self.classifier, [text for text, _ in batch])
            except Exception as exc:  # a broken candidate must never touch the live service
                log.warning("shadow model failed on a batch", extra={"exc_type": type(exc).__name__})
                with self._lock:
                    self.stats.failed += len(batch)
                    self._pending -= len(batch)
                continue
            with self._lock:
                self._pending -= len(batch)
                for (_, live), shadow in zip(batch, labels, strict=True):
                    self.stats.add(live, shadow)
                    if self.on_compare is not None:
                        for head, label in live.items():
                            if head in shadow:
                                self.on_compare(head, shadow[head] == label)

    def reset(self, live_version: str) -> None:
        """Start counting afresh against a new live model."""
        with self._lock:
            self.stats = ShadowStats(live=live_version, shadow=self.classifier.version)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.stats.to_dict()

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued post is scored (tests, benchmarks); False on timeout."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._pending == 0:
                    return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        """Let the thread end after the posts queued now (it is a daemon: exit never waits for it)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

"""Self-training: the fine-tuned teacher labels the unlabeled real pool; its confident labels train the next.

Each head keeps a pseudo-label only where the teacher's calibrated probability reaches the head's
``min_confidence`` (other heads stay unknown for that text, masked out of the loss), and at most
``max_per_label`` texts per (head, label) are kept, the most confident first, so that the majority class
(complaints, in app reviews) does not flood the training set. The labels are written to
``OUT/pseudo/round<N>/pseudo_labels.jsonl`` and join training as a ``pseudo_labels`` source.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from training.config import SelfTrainConfig
from training.loop import predict_logits
from training.metrics import softmax
from training.model import MultiHeadModel
from training.sources import Example

log = logging.getLogger(__name__)


def pseudo_label(teacher: MultiHeadModel, pool: list[Example], calibration: dict[str, Any], config: SelfTrainConfig,
                 batch_size: int) -> list[dict[str, Any]]:
    """One row per pool text that got at least one confident head: text, language, labels."""
    logits = predict_logits(teacher, pool, batch_size, desc="pseudo-labels")
    chosen: dict[int, dict[str, str]] = {}
    for head in teacher.head_specs:
        if head.auxiliary or head.name not in config.min_confidence:
            continue
        temperature = float(calibration.get(head.name, {}).get("temperature", 1.0))
        probs = softmax(logits[head.name], temperature)
        top, conf = probs.argmax(axis=1), probs.max(axis=1)
        for label_id, label in enumerate(head.labels):
            idx = np.flatnonzero((top == label_id) & (conf >= config.min_confidence[head.name]))
            for i in idx[np.argsort(-conf[idx], kind="stable")][: config.max_per_label]:
                chosen.setdefault(int(i), {})[head.name] = label
    return [{"id": pool[i].meta.get("id"), "text": pool[i].text, "language": pool[i].language, "labels": labels}
            for i, labels in sorted(chosen.items())]


def write_pseudo_labels(rows: list[dict[str, Any]], folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "pseudo_labels.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {h: dict(Counter(r["labels"][h] for r in rows if h in r["labels"]))
              for h in ("intent", "sentiment", "urgency")}
    stats = {"rows": len(rows), "counts": counts}
    (folder / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    log.info("self-training: %d pseudo-labeled texts %s", len(rows), counts)
    return stats

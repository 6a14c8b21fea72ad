"""Losses: masked, class- and source-weighted cross-entropy per head, and the distillation KL term."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from training.data import Batch
from training.sources import IGNORE, Example
from triage.schema import HeadSpec

ClassWeights = dict[str, dict[str, torch.Tensor]]  # source (or "*" for all) -> head -> weight per label


def _weights(counts: np.ndarray, mode: str, cap: float) -> np.ndarray:
    """(N / (K n_c)) ** p (p = 1/2 or 1), capped, normalised to mean 1 over the labels counted."""
    k = len(counts)
    if mode == "none" or counts.sum() == 0:
        return np.ones(k)
    p = 0.5 if mode == "sqrt_inverse" else 1.0
    present = counts > 0
    w = np.where(present, (counts.sum() / (present.sum() * np.maximum(counts, 1))) ** p, 1.0)
    w = np.minimum(w, cap)
    return w / ((w * counts).sum() / counts.sum())


def class_weights(pool: dict[str, list[Example]], heads: Sequence[HeadSpec], mode: str, cap: float,
                  per_source: bool = True) -> ClassWeights:
    """Class weights for rare labels, per source by default.

    Per source because sources disagree on what is rare: ``positive`` is a fifth of the corpus's
    sentiment labels but two thirds of the Hebrew Facebook comments; pooled counts would down-weight it
    in both. Each source's labels are balanced among themselves (weights average 1 over its examples).
    """
    groups = {name: rows for name, rows in pool.items()} if per_source else {"*": [e for r in pool.values() for e in r]}
    out: ClassWeights = {}
    for name, rows in groups.items():
        out[name] = {}
        for h in heads:
            counts = Counter(e.labels[h.name] for e in rows if h.name in e.labels)
            n = np.array([counts.get(i, 0) for i in range(len(h.labels))], dtype=np.float64)
            out[name][h.name] = torch.tensor(_weights(n, mode, cap), dtype=torch.float32)
    return out


def _example_weights(weights: ClassWeights, head: str, sources: Sequence[str], y: torch.Tensor) -> torch.Tensor:
    """Each example's class weight for its own label under its own source's weights (1 where unknown)."""
    out = [1.0] * len(sources)
    for i, (source, label) in enumerate(zip(sources, y.tolist(), strict=True)):
        table = weights.get(source) or weights.get("*")
        if label != IGNORE and table is not None and head in table:
            out[i] = float(table[head][label])
    return torch.tensor(out, dtype=torch.float32, device=y.device)


def masked_cross_entropy(logits: dict[str, torch.Tensor], batch: Batch, weights: ClassWeights) -> torch.Tensor:
    """Sum over heads of the mean class- and source-weighted CE over the examples labeled for that head.

    Examples without a label for a head (IGNORE) add nothing to it, not even to its denominator.
    """
    total = logits[next(iter(logits))].new_zeros(())
    for name, y in batch.labels.items():
        known = y != IGNORE
        n = int(known.sum())
        if n == 0:
            continue
        ce = F.cross_entropy(logits[name], y, ignore_index=IGNORE, reduction="none")
        total = total + (ce * _example_weights(weights, name, batch.sources, y) * batch.weights).sum() / n
    return total




def kd_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """Sum over heads of T² · KL(teacher_T || student_T), averaged over the batch."""
    total = next(iter(student.values())).new_zeros(())
    for name, logits in student.items():
        target = F.softmax(teacher[name] / temperature, dim=-1)
        total = total + F.kl_div(F.log_softmax(logits / temperature, dim=-1), target, reduction="batchmean")
    return total * temperature * temperature

"""Active learning: which posts should an agent label next, and why.

``select(probs, embeddings, k, label_counts=...)`` ranks unlabeled posts by three things:

- **uncertainty** per head: ``0.5 (1 - margin) + 0.5 entropy``, where margin is the gap between the top
  two probabilities and entropy is normalised by ``log(labels)`` (1: uniform); a post's uncertainty is the
  mean of its most uncertain head and the average head;
- **rarity**: the probability mass the model puts on labels that have few labeled examples so far
  (weight ``1/sqrt(count + 1)`` per label, ``label_counts`` from the corrections), averaged over heads:
  macro-F1 is won on the rare labels (suggestions, questions, ``critical``), and a post likely to be one
  of them is worth a label even when the model is sure. The score is uncertainty + ``rarity_weight`` x
  rarity;
- **diversity**: the candidates are clustered on their sentence embeddings (k-means, cosine on
  L2-normalised vectors, ``k`` clusters over the whole pool by default) and the best-scoring post of each
  cluster is taken, so ten near-identical posts never fill the queue; near-duplicates (cosine above
  ``dup_cosine``) are skipped.

Every pick carries its reasons in words (the unsure head's top two labels and margin, the entropy, a
rare label it may be, the cluster). Posts already labeled are left out by the caller. ``bench/learning``
measured this against random selection and against uncertainty alone (docs/LEARNING.md). Numpy only: the
server runs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPS = 1e-12


@dataclass
class HeadUncertainty:
    label: str
    second: str
    confidence: float
    margin: float
    entropy: float
    score: float


@dataclass
class Pick:
    index: int
    score: float
    reasons: list[str]
    cluster: int | None = None
    heads: dict[str, HeadUncertainty] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "reasons": self.reasons, "cluster": self.cluster,
                "heads": {h: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in u.__dict__.items()}
                          for h, u in self.heads.items()}}


def head_uncertainty(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, margin, normalised entropy) per row of a probability matrix."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    top2 = -np.sort(-p, axis=1)[:, :2] if p.shape[1] > 1 else np.hstack([p, np.zeros_like(p)])
    margin = top2[:, 0] - top2[:, 1]
    entropy = -(p * np.log(p)).sum(axis=1) / max(np.log(p.shape[1]), EPS)
    return 0.5 * (1.0 - margin) + 0.5 * entropy, margin, entropy


def uncertainty(probs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each post's score (mean of the worst head and the average head) and each head's score."""
    per_head = {h: head_uncertainty(p)[0] for h, p in probs.items()}
    stacked = np.vstack(list(per_head.values()))
    return 0.5 * stacked.max(axis=0) + 0.5 * stacked.mean(axis=0), per_head


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """Cluster ids of the rows of ``x`` (k-means++ start, Lloyd iterations; cosine for normalised rows)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    sq = (x * x).sum(axis=1)

    def dist(c: np.ndarray) -> np.ndarray:
        return np.maximum(sq[:, None] - 2 * x @ c.T + (c * c).sum(axis=1)[None, :], 0.0)

    centres = x[[int(rng.integers(n))]]
    for _ in range(1, k):
        d = dist(centres).min(axis=1)
        total = d.sum()
        nxt = int(rng.choice(n, p=d / total)) if total > 0 else int(rng.integers(n))
        centres = np.vstack([centres, x[nxt]])
    assign = dist(centres).argmin(axis=1)
    for _ in range(iterations):
        for j in range(k):
            members = x[assign == j]
            if len(members):
                centres[j] = members.mean(axis=0)
        new = dist(centres).argmin(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
    return assign


def rarity(probs: Mapping[str, np.ndarray], counts: Mapping[str, Sequence[int]] | None) -> np.ndarray:
    """Expected rarity of each post's labels: sum of p(label) / sqrt(labeled count + 1), scaled to [0, 1]."""
    n = len(next(iter(probs.values())))
    if not counts:
        return np.zeros(n)
    out = np.zeros(n)
    for head, p in probs.items():
        c = np.asarray(counts.get(head, [0] * p.shape[1]), dtype=np.float64)
        w = 1.0 / np.sqrt(c + 1.0)
        out += np.asarray(p, dtype=np.float64) @ w / w.max()
    return out / len(probs)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), EPS)


def _diverse(order: np.ndarray, emb: np.ndarray | None, k: int, pool_factor: int | None, seed: int,
             dup_cosine: float) -> list[tuple[int, int | None, int]]:
    """(index, cluster, cluster size) of up to k picks: the best of each cluster, then the best of the rest."""
    pool = order if pool_factor is None else order[: max(k, k * pool_factor)]
    if emb is None or len(pool) <= 1:
        return [(int(i), None, 1) for i in pool[:k]]
    x = _normalise(emb[pool])
    clusters = kmeans(x, k, seed)
    sizes = np.bincount(clusters, minlength=clusters.max() + 1)
    picks: list[tuple[int, int | None, int]] = []
    chosen: list[np.ndarray] = []
    taken: set[int] = set()
    for second_pass in (False, True):  # pool is best first: the first member met of a cluster is its best
        for rank, i in enumerate(pool):
            if len(picks) == k:
                return picks
            c = int(clusters[rank])
            if (c in taken and not second_pass) or int(i) in {p[0] for p in picks}:
                continue
            if chosen and max(float(v @ x[rank]) for v in chosen) > dup_cosine:
                continue
            taken.add(c)
            chosen.append(x[rank])
            picks.append((int(i), c, int(sizes[c])))
    picked = {p[0] for p in picks}
    for rank, i in enumerate(pool):  # only near-duplicates are left: still give k posts
        if len(picks) == k:
            break
        if int(i) not in picked:
            picks.append((int(i), int(clusters[rank]), int(sizes[clusters[rank]])))
    return picks


def _explain(probs: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]], i: int,
             counts: Mapping[str, Sequence[int]] | None) -> tuple[dict[str, HeadUncertainty], list[str]]:
    heads: dict[str, HeadUncertainty] = {}
    for head, p in probs.items():
        row = np.asarray(p[i : i + 1], dtype=np.float64)
        score, margin, entropy = (float(v[0]) for v in head_uncertainty(row))
        order = np.argsort(-row[0])
        second = int(order[1]) if len(order) > 1 else int(order[0])
        heads[head] = HeadUncertainty(labels[head][int(order[0])], labels[head][second], float(row[0][order[0]]),
                                      margin, entropy, score)
    reasons = []
    for head in sorted(heads, key=lambda h: -heads[h].score)[:2]:
        u = heads[head]
        p2 = u.confidence - u.margin
        reasons.append(f"{head}: {u.label} {u.confidence:.2f} vs {u.second} {p2:.2f} (margin {u.margin:.2f}, "
                       f"entropy {u.entropy:.2f})")
    rare = _rarest(probs, labels, i, counts)
    if rare is not None:
        reasons.append(rare)
    return heads, reasons


def _rarest(probs: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]], i: int,
            counts: Mapping[str, Sequence[int]] | None) -> str | None:
    """'may be a rare label' reason: the likeliest label (p >= 0.15) with the fewest labeled examples."""
    if not counts:
        return None
    best: tuple[float, str] | None = None
    for head, p in probs.items():
        c = counts.get(head)
        if c is None:
            continue
        for j, prob in enumerate(np.asarray(p[i], dtype=np.float64)):
            value = prob / np.sqrt(c[j] + 1.0)
            if prob >= 0.15 and (best is None or value > best[0]):
                best = (value, f"may be {head} {labels[head][j]} ({prob:.2f}): {int(c[j])} labeled so far")
    return best[1] if best is not None else None


def select(probs: Mapping[str, np.ndarray], embeddings: np.ndarray | None, k: int, *,
           labels: Mapping[str, Sequence[str]], label_counts: Mapping[str, Sequence[int]] | None = None,
           rarity_weight: float = 3.0, pool_factor: int | None = None, seed: int = 0,
           dup_cosine: float = 0.97) -> list[Pick]:
    """The ``k`` posts to label next, best first, one per embedding cluster, with reasons.

    ``label_counts``: head -> labeled examples per label (in ``labels`` order), for the rarity term.
    ``pool_factor``: cluster only the ``k x pool_factor`` best-scoring posts (None: every post).
    """
    if not probs:
        return []
    n = len(next(iter(probs.values())))
    if n == 0 or k <= 0:
        return []
    score = uncertainty(probs)[0] + rarity_weight * rarity(probs, label_counts)
    order = np.argsort(-score, kind="stable")
    chosen = _diverse(order, embeddings, k, pool_factor, seed, dup_cosine)
    n_clusters = len({c for _, c, _ in chosen if c is not None})
    picks = []
    for index, cluster, size in chosen:
        heads, reasons = _explain(probs, labels, index, label_counts)
        if cluster is not None:
            reasons.append(f"cluster {cluster + 1} of {n_clusters}: the best of {size} similar post(s)")
        else:
            reasons.append("ranked without embeddings (no diversity)")
        picks.append(Pick(index, float(score[index]), reasons, cluster, heads))
    return sorted(picks, key=lambda p: -p.score)


def label_counts(totals: Mapping[tuple[str, str], int], labels: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    """Per head, labeled examples per label (in ``labels`` order) from (head, label) -> count totals."""
    return {h: [int(totals.get((h, lab), 0)) for lab in names] for h, names in labels.items()}


def random_select(n: int, k: int, seed: int = 0) -> list[int]:
    """The baseline: k posts drawn at random (seeded)."""
    return [int(i) for i in np.random.default_rng(seed).choice(n, size=min(k, n), replace=False)]

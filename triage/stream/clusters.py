"""Online leader clustering of complaints, with bounded memory and expiry.

A post joins the most similar cluster when the similarity passes the threshold, otherwise it leads a new
one. Two pools, because the two kinds of signature cannot be compared with each other:

* embeddings (unit vectors, cosine similarity; the centroid is a running mean capped at
  ``centroid_memory`` posts so that it follows a slowly drifting topic);
* MinHash signatures of the normalised text when the post has no embedding (estimated Jaccard; the
  leader's signature stays the cluster's signature, since MinHash values cannot be averaged).

Each pool holds at most ``max_clusters`` clusters; a new one replaces the least recently seen (never one
with an open incident), and clusters unseen for ``cluster_ttl_hours`` are dropped on sweeps.
State is plain data: ids, counts and times as lists, the matrix as base64 of little-endian bytes, so a
round trip through JSON gives back the very same float32 values and the very same decisions.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triage.stream.textsig import jaccard_estimates, minhash


@dataclass
class ClusterPool:
    """Leader clusters of one kind: ``"e"`` (embedding centroids) or ``"t"`` (text MinHash signatures)."""

    kind: str
    ids: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    last_seen: list[float] = field(default_factory=list)
    matrix: np.ndarray | None = None  # (len(ids), dim) float32 for "e", uint32 for "t"

    def best(self, signature: np.ndarray) -> tuple[int, float]:
        """Index and similarity of the closest cluster, (-1, -inf) when the pool is empty."""
        if self.matrix is None or not self.ids:
            return -1, float("-inf")
        if self.kind == "e":
            if self.matrix.shape[1] != signature.shape[0]:
                raise ValueError(
                    f"embedding dimension changed from {self.matrix.shape[1]} to {signature.shape[0]}: "
                    "clusters of another model cannot be reused; start the detector from empty state"
                )
            sims = self.matrix @ signature
        else:
            sims = jaccard_estimates(self.matrix, signature)
        k = int(np.argmax(sims))
        return k, float(sims[k])

    def learn(self, k: int, signature: np.ndarray, t: float, memory: int) -> None:
        self.counts[k] += 1
        self.last_seen[k] = t
        if self.kind == "e" and self.matrix is not None:
            w = 1.0 / min(self.counts[k], memory)
            row = self.matrix[k]  # a view: updated in place
            row *= np.float32(1.0 - w)
            row += signature * np.float32(w)
            squared = float(np.dot(row, row))
            if squared > 0.0:
                row *= np.float32(1.0 / math.sqrt(squared))

    def add(self, cid: str, signature: np.ndarray, t: float, slot: int | None) -> None:
        """Append a cluster, or overwrite ``slot`` (an evicted cluster) in place."""
        if slot is not None:
            self.ids[slot], self.counts[slot], self.last_seen[slot] = cid, 1, t
            assert self.matrix is not None
            self.matrix[slot] = signature
            return
        self.ids.append(cid)
        self.counts.append(1)
        self.last_seen.append(t)
        row = signature[None, :]
        self.matrix = row.copy() if self.matrix is None else np.concatenate([self.matrix, row])

    def oldest(self, protected: Collection[str]) -> int | None:
        """Index of the least recently seen cluster that is not protected."""
        candidates = [i for i, cid in enumerate(self.ids) if cid not in protected]
        return min(candidates, key=lambda i: (self.last_seen[i], i)) if candidates else None

    def drop_older_than(self, cutoff: float, protected: Collection[str]) -> list[str]:
        keep = [i for i, (cid, seen) in enumerate(zip(self.ids, self.last_seen, strict=True))
                if seen >= cutoff or cid in protected]
        if len(keep) == len(self.ids):
            return []
        kept = set(keep)
        gone = [cid for i, cid in enumerate(self.ids) if i not in kept]
        self.ids = [self.ids[i] for i in keep]
        self.counts = [self.counts[i] for i in keep]
        self.last_seen = [self.last_seen[i] for i in keep]
        self.matrix = self.matrix[keep].copy() if (self.matrix is not None and keep) else None
        return gone

    def to_dict(self) -> dict[str, Any]:
        m = self.matrix
        return {
            "kind": self.kind, "ids": list(self.ids), "counts": list(self.counts), "last_seen": list(self.last_seen),
            "dtype": None if m is None else m.dtype.str, "shape": None if m is None else list(m.shape),
            "matrix": None if m is None else base64.b64encode(np.ascontiguousarray(m).tobytes()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterPool:
        matrix = None
        if data["matrix"] is not None:
            raw = base64.b64decode(data["matrix"])
            matrix = np.frombuffer(raw, dtype=np.dtype(data["dtype"])).reshape(data["shape"]).copy()
        return cls(data["kind"], list(data["ids"]), list(data["counts"]), list(data["last_seen"]), matrix)


def unit_vector(embedding: object) -> np.ndarray | None:
    """The embedding as a float32 unit vector, None when absent or zero."""
    if embedding is None:
        return None
    v = np.asarray(embedding, dtype=np.float32)
    if v.ndim != 1:
        v = v.reshape(-1)
    squared = float(np.dot(v, v))
    if not squared > 0.0 or not math.isfinite(squared):  # empty, zero, or NaN/inf
        return None
    return v * np.float32(1.0 / math.sqrt(squared))


@dataclass
class ClusterIndex:
    """Both pools of one brand and the id counter they share."""

    embeddings: ClusterPool = field(default_factory=lambda: ClusterPool("e"))
    texts: ClusterPool = field(default_factory=lambda: ClusterPool("t"))
    next_id: int = 0

    def assign(
        self, embedding: object, text: str, t: float, *, cfg: Any, protected: Collection[str], learn: bool = True
    ) -> tuple[str, str | None]:
        """Cluster id for a post, and the id of a cluster evicted to make room (or None)."""
        vec = unit_vector(embedding)
        if vec is not None:
            pool, signature, threshold = self.embeddings, vec, cfg.cluster_threshold
        else:
            pool, signature, threshold = self.texts, minhash(text, cfg.minhash_permutations), cfg.text_threshold
        k, sim = pool.best(signature)
        if k >= 0 and sim >= threshold:
            if learn:
                pool.learn(k, signature, t, cfg.centroid_memory)
            return pool.ids[k], None
        return self._new(pool, signature, t, cfg.max_clusters, protected)

    def _new(
        self, pool: ClusterPool, signature: np.ndarray, t: float, limit: int, protected: Collection[str]
    ) -> tuple[str, str | None]:
        cid = f"{pool.kind}{self.next_id}"
        self.next_id += 1
        slot = pool.oldest(protected) if len(pool.ids) >= limit else None
        evicted = pool.ids[slot] if slot is not None else None
        pool.add(cid, signature, t, slot)
        return cid, evicted

    def expire(self, cutoff: float, protected: Collection[str]) -> list[str]:
        return self.embeddings.drop_older_than(cutoff, protected) + self.texts.drop_older_than(cutoff, protected)

    def __len__(self) -> int:
        return len(self.embeddings.ids) + len(self.texts.ids)

    def to_dict(self) -> dict[str, Any]:
        return {"embeddings": self.embeddings.to_dict(), "texts": self.texts.to_dict(), "next_id": self.next_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterIndex:
        return cls(ClusterPool.from_dict(data["embeddings"]), ClusterPool.from_dict(data["texts"]), data["next_id"])

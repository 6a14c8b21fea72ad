"""Similarity between a post and a template's example posts.

The preferred measure is the cosine of the classifier's sentence embeddings (the same encoder that
labels the post). When no embedding is available, character-trigram cosine is a deterministic stand-in
that works for Hebrew prefixes and typos better than word overlap.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np


def trigrams(text: str) -> Counter[str]:
    """Character trigrams of the case-folded text, words padded with spaces ("  ab", " ab ", ...)."""
    padded = "  " + " ".join(text.casefold().split()) + "  "
    return Counter(padded[i : i + 3] for i in range(len(padded) - 2))


def trigram_cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b.get(gram, 0) for gram, count in a.items())
    na = math.sqrt(sum(c * c for c in a.values()))
    nb = math.sqrt(sum(c * c for c in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def best_trigram_score(post: Counter[str], examples: Sequence[Counter[str]]) -> float:
    return max((trigram_cosine(post, e) for e in examples), default=0.0)


def best_cosine(post: np.ndarray, examples: np.ndarray) -> float:
    """Highest cosine between ``post`` (dim,) and rows of ``examples`` (n, dim); inputs need not be unit."""
    if examples.size == 0:
        return 0.0
    p = post / (np.linalg.norm(post) or 1.0)
    norms = np.linalg.norm(examples, axis=1)
    norms[norms == 0] = 1.0
    return float(np.max((examples @ p) / norms))

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


def trigram_norm(grams: Counter[str]) -> float:
    return math.sqrt(sum(c * c for c in grams.values()))


def trigram_cosine(a: Counter[str], b: Counter[str], na: float | None = None, nb: float | None = None) -> float:
    """Cosine of two trigram counts; ``na`` / ``nb``: their norms when the caller has them already."""
    if not a or not b:
        return 0.0
    # Only shared trigrams add to the dot product: the set intersection runs in C, the counts are integers
    # (an exact sum in any order).
    dot = sum(a[gram] * b[gram] for gram in a.keys() & b.keys())
    na = trigram_norm(a) if na is None else na
    nb = trigram_norm(b) if nb is None else nb
    return dot / (na * nb) if na and nb else 0.0


def best_trigram_score(post: Counter[str], examples: Sequence[Counter[str]],
                       example_norms: Sequence[float] | None = None, post_norm: float | None = None) -> float:
    post_norm = trigram_norm(post) if post_norm is None else post_norm
    norms = example_norms if example_norms is not None else [trigram_norm(e) for e in examples]
    return max((trigram_cosine(post, e, post_norm, n) for e, n in zip(examples, norms, strict=True)), default=0.0)


def best_cosine(post: np.ndarray, examples: np.ndarray) -> float:
    """Highest cosine between ``post`` (dim,) and rows of ``examples`` (n, dim); inputs need not be unit."""
    if examples.size == 0:
        return 0.0
    p = post / (np.linalg.norm(post) or 1.0)
    norms = np.linalg.norm(examples, axis=1)
    norms[norms == 0] = 1.0
    return float(np.max((examples @ p) / norms))

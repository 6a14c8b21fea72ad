"""Text signatures for clustering when a post comes without an embedding: MinHash of character 4-grams.

The text is normalised first (case folded, Hebrew niqqud and marks dropped, digits mapped to 0, runs of
anything that is not a letter or digit collapsed) so that "Outage in Haifa!!" and "outage in haifa" and two
copies of a phishing message with different links look the same. The hash is crc32 and the permutations
come from a fixed seed: every worker and every process computes the same signature for the same text
(Python's own ``hash`` is salted per process and would not).
"""

from __future__ import annotations

import unicodedata
import zlib
from functools import lru_cache

import numpy as np

SHINGLE = 4
_PRIME = np.uint64(4294967311)  # the first prime above 2**32: (a*h + b) mod p stays within uint64
_SEED = 20_240_611


@lru_cache(maxsize=8)
def _permutations(k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**31, size=k, dtype=np.uint64)
    b = rng.integers(0, 2**31, size=k, dtype=np.uint64)
    return a[:, None], b[:, None]


def normalise_for_signature(text: str) -> str:
    """Lower-case letters and digits-as-0, single spaces; marks (niqqud, accents) removed."""
    out: list[str] = []
    space = True
    for ch in unicodedata.normalize("NFKD", text.casefold()):
        if unicodedata.combining(ch):
            continue
        if ch.isdigit():
            ch = "0"
        elif not ch.isalpha():
            if space:
                continue
            ch, space = " ", True
            out.append(ch)
            continue
        space = False
        out.append(ch)
    return "".join(out).strip()


def shingle_hashes(text: str) -> np.ndarray:
    """crc32 of every character 4-gram of the normalised text (the whole text when shorter)."""
    norm = normalise_for_signature(text)
    last = len(norm) - SHINGLE + 1
    grams = {norm[i : i + SHINGLE] for i in range(last)} if last > 1 else {norm}
    return np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint64, count=len(grams))


def minhash(text: str, k: int = 64) -> np.ndarray:
    """A ``k``-value MinHash signature (uint32) of the text's 4-gram set."""
    hashes = shingle_hashes(text)
    a, b = _permutations(k)
    values = (a * hashes[None, :] + b) % _PRIME
    return values.min(axis=1).astype(np.uint32)


def jaccard_estimates(signatures: np.ndarray, signature: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of one signature with each row of ``signatures``."""
    return (signatures == signature[None, :]).mean(axis=1)

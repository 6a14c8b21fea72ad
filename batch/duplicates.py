"""Duplicate post ids: the second and later rows with an id already seen are rejected (``duplicate_id``).

Duplicates are found on the driver, chunk after chunk in input order, after scoring (the same for every
engine): the first row with an id keeps its result; a later one becomes a rejected row (its labels are
not written, the rejects file names it), so two rows never give one post two different labels. Rows
without an id are never duplicates.

Memory stays near flat: each id is kept as a 64-bit hash (8 bytes a row, in sorted numpy runs merged
like a log-structured tree), not as a string. Two different ids collide with a probability of about
n²/2⁶⁵ (3e-6 for ten million rows). The hashes of each finished chunk are saved beside its part file,
so a resumed job knows the ids seen before the interruption.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch.columns import (
    DUPLICATE_ID,
    ERROR,
    ERROR_FIELD,
    ERROR_MSG,
    ID,
    OUT,
    STATUS,
    STATUS_REJECTED,
    STATUS_SKIPPED,
)


def id_hashes(ids: list[str | None]) -> np.ndarray:
    """A 64-bit hash per id (0 for a missing id: never counted)."""
    out = np.zeros(len(ids), dtype=np.uint64)
    for i, ident in enumerate(ids):
        if ident is not None:
            digest = hashlib.blake2b(ident.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            out[i] = int.from_bytes(digest, "little") or 1
    return out


class SeenIds:
    """The ids met so far: sorted runs of hashes, merged like a binary counter (O(log n) runs, n log n work)."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def seen(self, hashes: np.ndarray) -> np.ndarray:
        """Whether each hash is among those added so far (vectorised: one binary search per run)."""
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            at = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
            found |= run[at] == hashes
        return found

    def add(self, hashes: np.ndarray) -> None:
        run = np.unique(hashes[hashes != 0])
        if not len(run):
            return
        self._runs.append(run)
        while len(self._runs) > 1 and len(self._runs[-2]) <= len(self._runs[-1]):
            last = self._runs.pop()
            self._runs[-1] = np.union1d(self._runs[-1], last)

    def flag(self, hashes: np.ndarray) -> list[bool]:
        """For one chunk in input order: whether each row's id was seen before (earlier in it included)."""
        before = self.seen(hashes)
        dup = [False] * len(hashes)
        within: set[int] = set()
        for i, h in enumerate(hashes.tolist()):
            if h == 0:
                continue
            dup[i] = bool(before[i]) or h in within
            within.add(h)
        self.add(hashes)
        return dup


def mark_duplicates(scored: pa.Table, seen: SeenIds, id_column: str) -> tuple[pa.Table, np.ndarray]:
    """``scored`` with rows whose id came earlier rejected as ``duplicate_id``; and the chunk's id hashes."""
    ids = scored.column(ID).to_pylist()
    status = scored.column(STATUS).to_pylist()
    hashes = id_hashes([None if s == STATUS_SKIPPED else ident for ident, s in zip(ids, status, strict=True)])
    dup = seen.flag(hashes)
    hit = [d and s != STATUS_REJECTED for d, s in zip(dup, status, strict=True)]
    if not any(hit):
        return scored, hashes
    mask = pa.array(hit)
    reason = "the id appeared on an earlier row: this row's labels are not written"
    changes = {
        STATUS: STATUS_REJECTED,
        ERROR: DUPLICATE_ID,
        ERROR_FIELD: id_column,
        ERROR_MSG: reason,
        OUT + "reclassify_status": STATUS_REJECTED,
        OUT + "reclassify_error": DUPLICATE_ID,
    }
    out = scored
    for index, name in enumerate(scored.schema.names):
        if not (name.startswith(OUT) or name in changes):
            continue
        col = scored.column(index)
        value = pa.scalar(changes.get(name), col.type)
        out = out.set_column(index, name, pc.if_else(mask, value, col))
    return out, hashes

"""Where detector state lives between batches, so that several server workers can share it.

The detector keeps one state document per brand (plain JSON-able data, see ``BrandState.to_dict``). A store
only has to keep the latest document and a version number and to *compare and set*: a worker writes back
only if nobody else wrote since it read, otherwise it reloads and re-applies its batch (the detector is a
pure function of state and events, so a re-applied batch decides exactly as the first attempt would have).
A database table ``(brand PRIMARY KEY, version INTEGER, state JSON)`` with
``UPDATE ... SET state = ?, version = version + 1 WHERE brand = ? AND version = ?`` implements it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    data: dict[str, Any]


class StateStore(Protocol):
    def version(self, brand: str) -> int:
        """Version of the brand's stored state; 0 when there is none."""
        ...

    def load(self, brand: str) -> Snapshot | None:
        ...

    def save(self, brand: str, data: dict[str, Any], expected_version: int) -> int | None:
        """Write ``data`` if the stored version is still ``expected_version``; the new version, else None."""
        ...

    def brands(self) -> list[str]:
        ...


class InMemoryStore:
    """A process-local store. It keeps each state as a JSON string, as a database would, so that anything
    that does not survive serialisation fails here first. Thread-safe."""

    def __init__(self) -> None:
        self._docs: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def version(self, brand: str) -> int:
        with self._lock:
            return self._docs.get(brand, (0, ""))[0]

    def load(self, brand: str) -> Snapshot | None:
        with self._lock:
            doc = self._docs.get(brand)
        return None if doc is None else Snapshot(doc[0], json.loads(doc[1]))

    def save(self, brand: str, data: dict[str, Any], expected_version: int) -> int | None:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        with self._lock:
            current = self._docs.get(brand, (0, ""))[0]
            if current != expected_version:
                return None
            self._docs[brand] = (current + 1, text)
            return current + 1

    def brands(self) -> list[str]:
        with self._lock:
            return sorted(self._docs)

    def size_bytes(self, brand: str) -> int:
        with self._lock:
            return len(self._docs.get(brand, (0, ""))[1].encode("utf-8"))

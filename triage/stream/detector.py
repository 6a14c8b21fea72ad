"""The crisis detector over a stream of triaged posts, for any number of brands.

Two ways to drive it:

* ``process(batch)`` — the shared-state way, for server workers: per brand, reload the state if another
  worker saved since this one last did, apply the batch, save with compare-and-set, and on a conflict
  reload and re-apply. Feed batches (a second's or a thousand posts' worth) to amortise the save.
* ``observe(event)`` + ``flush()`` — one worker owning its brands (a replay, a test); state is saved on
  ``flush``.

Both return an ``Observation`` per event: its cluster, the incident it belongs to (if any) and the
lifecycle changes (opened, growing, resolved) that it caused. ``tick(now)`` resolves quiet incidents when
no posts arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from triage.stream.brand import BrandState
from triage.stream.config import DetectorConfig
from triage.stream.events import Incident, IncidentChange, Observation, StreamEvent
from triage.stream.store import InMemoryStore, StateStore

MAX_ATTEMPTS = 8


class StateConflictError(RuntimeError):
    """Another worker kept writing the same brand's state; the batch was not applied."""


class CrisisDetector:
    def __init__(self, config: DetectorConfig | None = None, store: StateStore | None = None) -> None:
        self.config = config or DetectorConfig()
        self.store: StateStore = store if store is not None else InMemoryStore()
        self._states: dict[str, BrandState] = {}
        self._versions: dict[str, int] = {}
        self._dirty: set[str] = set()

    # --- shared state ------------------------------------------------------------------------------------------

    def process(self, events: Iterable[StreamEvent]) -> list[Observation]:
        """Apply a batch with the store as the source of truth; one Observation per event, in input order."""
        batch = list(events)
        by_brand: dict[str, list[int]] = {}
        for i, event in enumerate(batch):
            by_brand.setdefault(event.brand, []).append(i)
        out: list[Observation | None] = [None] * len(batch)
        for brand, indexes in by_brand.items():
            for i, observation in zip(indexes, self._apply(brand, [batch[i] for i in indexes]), strict=True):
                out[i] = observation
        return [o for o in out if o is not None]

    def _apply(self, brand: str, events: list[StreamEvent]) -> list[Observation]:
        for _attempt in range(MAX_ATTEMPTS):
            state = self._fresh(brand)
            observations = [state.observe(event) for event in events]
            version = self.store.save(brand, state.to_dict(), self._versions.get(brand, 0))
            if version is not None:
                self._versions[brand] = version
                self._dirty.discard(brand)
                return observations
            self._states.pop(brand, None)  # someone else wrote: our copy is stale, re-read and redo
        raise StateConflictError(f"could not save stream state of brand {brand!r} after {MAX_ATTEMPTS} attempts")

    def _fresh(self, brand: str) -> BrandState:
        stored = self.store.version(brand)
        if brand in self._states and self._versions.get(brand, 0) == stored:
            return self._states[brand]  # nobody else wrote since we did (unflushed observe() changes included)
        return self._load(brand)

    def _load(self, brand: str) -> BrandState:
        snapshot = self.store.load(brand)
        if snapshot is None:
            state, version = BrandState.new(brand, self.config), 0
        else:
            state, version = BrandState.from_dict(snapshot.data, self.config), snapshot.version
        self._states[brand], self._versions[brand] = state, version
        self._dirty.discard(brand)
        return state

    # --- single owner ------------------------------------------------------------------------------------------

    def observe(self, event: StreamEvent) -> Observation:
        """Apply one event to the in-process state (no store round trip; call ``flush`` to save)."""
        state = self._states.get(event.brand) or self._load(event.brand)
        self._dirty.add(event.brand)
        return state.observe(event)

    def flush(self) -> None:
        """Save every brand changed by ``observe``; raises StateConflictError if another worker wrote meanwhile."""
        for brand in sorted(self._dirty):
            version = self.store.save(brand, self._states[brand].to_dict(), self._versions.get(brand, 0))
            if version is None:
                raise StateConflictError(f"brand {brand!r} was written by another worker since it was loaded")
            self._versions[brand] = version
        self._dirty.clear()

    # --- reading ---------------------------------------------------------------------------------------------

    def tick(self, now: datetime, brands: Iterable[str] | None = None) -> list[IncidentChange]:
        """Let stream time pass without posts (resolves quiet incidents) for the given or all known brands."""
        changes: list[IncidentChange] = []
        for brand in sorted(set(brands) if brands is not None else set(self._states) | set(self.store.brands())):
            state = self._states.get(brand) or self._load(brand)
            if state.started is not None:  # a brand that never had a post has nothing to resolve
                self._dirty.add(brand)
                changes += state.advance(now.timestamp())
        return changes

    def sweep(self, now: datetime, brands: Iterable[str] | None = None) -> list[IncidentChange]:
        """``tick`` with the store as the source of truth (compare-and-set, like ``process``): for a timer
        in each server worker, so that quiet incidents resolve when no posts arrive."""
        changes: list[IncidentChange] = []
        for brand in sorted(set(brands) if brands is not None else set(self.brands())):
            for _attempt in range(MAX_ATTEMPTS):
                state = self._fresh(brand)
                if state.started is None:
                    break
                found = state.advance(now.timestamp())
                version = self.store.save(brand, state.to_dict(), self._versions.get(brand, 0))
                if version is not None:
                    self._versions[brand] = version
                    self._dirty.discard(brand)
                    changes += found
                    break
                self._states.pop(brand, None)
            else:
                raise StateConflictError(
                    f"could not save stream state of brand {brand!r} after {MAX_ATTEMPTS} attempts"
                )
        return changes

    def incident(self, brand: str, incident_id: str, *, fresh: bool = False) -> Incident | None:
        """One incident of ``brand`` (``fresh``: re-read the store if another worker saved since)."""
        state = self._fresh(brand) if fresh else (self._states.get(brand) or self._load(brand))
        assert state.book is not None
        record = state.book.records.get(incident_id)
        return record.public() if record is not None else None

    def incidents(self, brand: str, *, include_resolved: bool = True, fresh: bool = False) -> list[Incident]:
        """The brand's incidents (``fresh``: re-read the store if another worker saved since)."""
        state = self._fresh(brand) if fresh else (self._states.get(brand) or self._load(brand))
        assert state.book is not None
        records = state.book.records.values()
        return [r.public() for r in records if include_resolved or r.state != "resolved"]

    def export_state(self, brand: str) -> dict[str, Any]:
        state = self._states.get(brand) or self._load(brand)
        return state.to_dict()

    def brands(self) -> list[str]:
        return sorted(set(self._states) | set(self.store.brands()))

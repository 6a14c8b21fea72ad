"""The crisis detector as the engine's ``IncidentObserver``: every routed post counted, incidents named.

``IncidentTracker.observe`` turns a batch of triaged posts into stream events (redacted text, the decision's
labels and triggers, a keyed author pseudonym), runs ``CrisisDetector.process`` on them (state behind its
compare-and-set store, so several workers share it), hands every lifecycle change (opened, growing,
resolved) to its listeners (webhooks, a command's printout), and returns, per post, the open incident it was
counted in. The engine routes those posts again with it (the policy's ``incidents:`` option).
A listener that fails is logged and never fails triage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from triage.context.identity import IdentityKey
from triage.stream.adapt import event_from_triage
from triage.stream.detector import CrisisDetector
from triage.stream.events import Incident, IncidentChange
from triage.types import IncidentRef, Post, TriageResult

log = logging.getLogger("triage.stream")
Listener = Callable[[IncidentChange], None]


def incident_ref(incident: Incident) -> IncidentRef:
    return IncidentRef(id=incident.id, state=incident.state, kind=incident.kind, triggers=list(incident.triggers),
                       posts=incident.posts, first_post_id=incident.first_post_id)


class IncidentTracker:
    """Thread-safe: one per worker process (the detector's in-process copy of the state is shared)."""

    def __init__(self, detector: CrisisDetector, key: IdentityKey | None = None,
                 listeners: Sequence[Listener] = ()) -> None:
        self.detector = detector
        self.key = key
        self.listeners: list[Listener] = list(listeners)
        self._lock = threading.Lock()

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def observe(self, items: Sequence[tuple[Post, TriageResult]]) -> list[IncidentRef | None]:
        """Count the posts; the open incident of each (None: none, or it was not counted in one)."""
        events = [event_from_triage(post, result, key=self.key) for post, result in items]
        with self._lock:
            observations = self.detector.process(events)
            found: list[Incident | None] = [
                self.detector.incident(e.brand, o.incident_id) if o.incident_id is not None else None
                for e, o in zip(events, observations, strict=True)
            ]
        for observation in observations:
            self._notify(observation.changes)
        return [incident_ref(i) if i is not None and i.state != "resolved" else None for i in found]

    def sweep(self, now: datetime) -> list[IncidentChange]:
        """Let time pass without posts: resolve quiet incidents of every brand (a timer calls this)."""
        with self._lock:
            changes = self.detector.sweep(now)
        self._notify(changes)
        return changes

    def incidents(self, brand: str, *, include_resolved: bool = True) -> list[Incident]:
        """The brand's incidents as the store has them now (none for a brand the detector never saw)."""
        with self._lock:
            if brand not in self.detector.brands():
                return []
            return self.detector.incidents(brand, include_resolved=include_resolved, fresh=True)

    def incident(self, brand: str, incident_id: str) -> Incident | None:
        with self._lock:
            if brand not in self.detector.brands():
                return None
            return self.detector.incident(brand, incident_id, fresh=True)

    def brands(self) -> list[str]:
        with self._lock:
            return self.detector.brands()

    def _notify(self, changes: Sequence[IncidentChange]) -> None:
        for change in changes:
            for listener in self.listeners:
                try:
                    listener(change)
                except Exception as exc:  # a webhook or printer must never fail triage
                    log.error("incident listener failed", extra={"exc_type": type(exc).__name__,
                                                                  "incident": change.incident.id})

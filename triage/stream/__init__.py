"""Crisis detection over the stream of triaged posts, per brand.

Signals: topic volume against its own seasonal baseline (negative-binomial tail test per sliding window),
clusters of near-identical complaints across channels (embedding leader clustering, MinHash of the text
when there is no embedding), virality (observed and stated engagement counts) and single-post critical
triggers. They open, grow and resolve de-duplicated incidents with their evidence. State is plain data
behind a small compare-and-set store, so several workers can share it. See ``triage/stream/README.md``.

``IncidentTracker`` connects it to the engine (``triage.engine.StreamHooks.incidents``).

Imports numpy, pydantic, the standard library and the core's ``triage.context`` (keyed author pseudonyms).
"""

from triage.stream.config import DetectorConfig, WindowRule
from triage.stream.detector import CrisisDetector, StateConflictError
from triage.stream.events import (
    Incident,
    IncidentChange,
    IncidentTopic,
    Observation,
    StreamEvent,
    author_key,
)
from triage.stream.store import InMemoryStore, Snapshot, StateStore
from triage.stream.tracker import IncidentTracker, incident_ref

__all__ = [
    "CrisisDetector",
    "DetectorConfig",
    "InMemoryStore",
    "Incident",
    "IncidentChange",
    "IncidentTopic",
    "IncidentTracker",
    "Observation",
    "Snapshot",
    "StateConflictError",
    "StateStore",
    "StreamEvent",
    "WindowRule",
    "author_key",
    "incident_ref",
]

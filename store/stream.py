"""The engine connected to the post store and the crisis detector: what the service and ``triage replay`` run.

``connect_stream(engine, store)`` returns the engine with ``StreamHooks``: the store as its
``ContextProvider`` (thread, parent, follow-ups, reposts) and ``PostRecorder`` (every result saved, redacted),
and an ``IncidentTracker`` over a ``CrisisDetector`` whose state lives in the store's ``state`` table
(``DbStateStore``), so several workers share it. Listeners (webhooks, a printout) get every incident change.

>>> stream = connect_stream(load_engine(), PostStore(url), listeners=[WebhookSender(urls, secret)])
>>> stream.engine.triage(post)          # context, routing (incident route), stored, counted
>>> stream.tracker.incidents("default")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from store.poststore import PostStore
from triage.engine import Engine, StreamHooks
from triage.stream import CrisisDetector, DetectorConfig, Incident, IncidentTracker
from triage.stream.tracker import Listener

STATES = ("open", "opened", "growing", "resolved", "all")


@dataclass(frozen=True)
class Stream:
    engine: Engine
    store: PostStore
    tracker: IncidentTracker


def brand_timezones(engine: Engine) -> dict[str, str]:
    """brand -> the time zone of its policy (the detector's seasonal clock), for every routed brand."""
    routers: dict[str, Any] = getattr(engine.router, "routers", {}) or {}
    out = {}
    for brand, router in routers.items():
        policy = getattr(router, "policy", None)
        if policy is not None:
            out[brand] = policy.spec.timezone
    return out


def detector_config(engine: Engine | None = None, **overrides: Any) -> DetectorConfig:
    zones = brand_timezones(engine) if engine is not None else {}
    return DetectorConfig(**{"brand_timezones": zones, **overrides})


def open_tracker(store: PostStore, config: DetectorConfig | None = None,
                 listeners: Sequence[Listener] = ()) -> IncidentTracker:
    """The crisis detector over ``store``'s state table, keyed with the store's identity key."""
    detector = CrisisDetector(config or DetectorConfig(), store.state_store("crisis"))
    return IncidentTracker(detector, store.identity_key, listeners)


def connect_stream(engine: Engine, store: PostStore, *, config: DetectorConfig | None = None,
                   listeners: Sequence[Listener] = (), detect: bool = True) -> Stream:
    """``engine`` with the store as context provider and recorder, and the detector as incident observer."""
    tracker = open_tracker(store, config or detector_config(engine), listeners)
    hooks = StreamHooks(context=store.context_provider(), identity_key=store.identity_key,
                        incidents=tracker if detect else None, recorder=store)
    return Stream(engine.with_stream(hooks), store, tracker)


def list_incidents(tracker: IncidentTracker, *, brands: Sequence[str] | None = None,
                   state: str = "open") -> list[Incident]:
    """Incidents of ``brands`` (default: every brand with detector state) in ``state``, newest first.

    ``state``: ``open`` (opened or growing), ``opened``, ``growing``, ``resolved`` or ``all``."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    found: list[Incident] = []
    for brand in brands if brands is not None else tracker.brands():
        for incident in tracker.incidents(brand, include_resolved=state in ("resolved", "all")):
            if state in ("all", incident.state) or (state == "open" and incident.state != "resolved"):
                found.append(incident)
    return sorted(found, key=lambda i: (i.opened_at, i.id), reverse=True)


def brand_of_incident(incident_id: str) -> str:
    """The brand in an incident id (``<brand>-<6 digits>``)."""
    brand, _, seq = incident_id.rpartition("-")
    if not brand or not seq.isdigit():
        raise ValueError(f"{incident_id!r} is not an incident id (<brand>-<number>, e.g. default-000001)")
    return brand

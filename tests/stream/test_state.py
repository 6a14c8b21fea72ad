"""Detector state is plain serialisable data: it round-trips, and workers sharing it decide identically."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.stream.helpers import START, Stream, config, merge, run
from triage.stream import CrisisDetector, InMemoryStore, Observation, StateConflictError, StreamEvent


def _stream() -> list[StreamEvent]:
    """Two days of background, a burst, a trigger post, a viral post and quiet: every kind of state."""
    stream = Stream(rate_per_min=2.0)
    warm = list(stream.background(START, 48.0))
    t = START + timedelta(days=2, hours=2)
    burst = stream.burst(t, n=25, minutes=15)
    trigger = [stream.post(t + timedelta(hours=1), "delivery", "complaint", urgency="critical", triggers=("media",))]
    viral = [stream.post(t + timedelta(hours=2), "viral", "complaint", channel="twitter", shares=900, views=90_000)]
    tail = list(stream.background(t, 10.0))
    return merge(warm, burst, trigger, viral, tail)


def _key(o: Observation) -> tuple:
    return o.post_id, o.cluster, o.incident_id, tuple((c.change, c.incident.model_dump_json()) for c in o.changes)


@pytest.fixture(scope="module")
def events() -> list[StreamEvent]:
    return _stream()


@pytest.fixture(scope="module")
def reference(events: list[StreamEvent]) -> list[tuple]:
    observations = run(CrisisDetector(config()), events)
    assert sum(len(o.changes) for o in observations) >= 4  # opened x3 and more: the test is not vacuous
    return [_key(o) for o in observations]


@pytest.mark.parametrize("split", [0.3, 0.5, 0.8])
def test_state_round_trips_with_identical_decisions(events: list[StreamEvent], reference: list[tuple],
                                                    split: float) -> None:
    store = InMemoryStore()
    first = CrisisDetector(config(), store)
    cut = int(len(events) * split)
    observations = run(first, events[:cut])
    first.flush()
    second = CrisisDetector(config(), store)  # a new worker: everything it knows comes from the stored JSON
    observations += run(second, events[cut:])
    assert [_key(o) for o in observations] == reference


def test_two_workers_sharing_a_store_decide_like_one(events: list[StreamEvent], reference: list[tuple]) -> None:
    store = InMemoryStore()
    workers = [CrisisDetector(config(), store), CrisisDetector(config(), store)]
    observations: list[Observation] = []
    for k, i in enumerate(range(0, len(events), 700)):
        observations += workers[k % 2].process(events[i : i + 700])
    assert [_key(o) for o in observations] == reference


def test_exported_state_is_plain_json(events: list[StreamEvent]) -> None:
    detector = CrisisDetector(config())
    run(detector, events[:3000])
    state = detector.export_state("acme")
    assert json.loads(json.dumps(state, allow_nan=False)) == state


def test_a_stale_worker_reloads_and_reapplies(events: list[StreamEvent]) -> None:
    store = InMemoryStore()
    a, b = CrisisDetector(config(), store), CrisisDetector(config(), store)
    a.process(events[:100])
    b.process(events[100:200])  # b loads a's state
    a.process(events[200:300])  # a's copy is stale: it must reload b's work, not overwrite it
    c = CrisisDetector(config(), store)
    assert store.version("acme") == 3
    assert c.export_state("acme") == _state_after(events[:300])


def test_flush_refuses_to_overwrite_another_workers_state(events: list[StreamEvent]) -> None:
    store = InMemoryStore()
    a, b = CrisisDetector(config(), store), CrisisDetector(config(), store)
    a.observe(events[0])
    b.process(events[:10])
    with pytest.raises(StateConflictError):
        a.flush()


def _state_after(events: list[StreamEvent]) -> dict:
    detector = CrisisDetector(config())
    run(detector, events)
    return detector.export_state("acme")

"""The engine in the stream: the crisis detector names incidents, their posts are routed again, failures of the
store or the detector never fail triage, and the detector's author keys are keyed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from triage.classify.fake import FakeClassifier
from triage.context import IdentityKey, InMemoryContextProvider
from triage.engine import Engine, StreamHooks
from triage.loading import load_engine
from triage.schema import LabelSchema
from triage.stream import (
    CrisisDetector,
    DetectorConfig,
    IncidentChange,
    IncidentTracker,
    InMemoryStore,
    author_key,
)
from triage.stream.adapt import event_from_triage
from triage.types import Author, IncidentRef, Post, TriageResult

KEY = IdentityKey.from_text("stream-test-identity-key")
T0 = datetime(2026, 6, 7, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine(default_schema: LabelSchema) -> Engine:
    return load_engine(classifier=FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK),
                       replies=False)


class Recorder:
    def __init__(self) -> None:
        self.saved: list[tuple[Post, TriageResult]] = []

    def save_result(self, post: Post, result: TriageResult) -> None:
        self.saved.append((post, result))


def _wave(n: int) -> list[Post]:
    first = Post(text="אין אינטרנט בכל חיפה, אני עובר לפרטנר", id="p0", author=Author(handle="@u0"), created_at=T0)
    rest = [Post(text="אין אינטרנט בחיפה", id=f"p{i}", channel=("facebook", "instagram", "twitter")[i % 3],
                 author=Author(handle=f"@u{i}"), created_at=T0 + timedelta(seconds=20 * i)) for i in range(1, n)]
    return [first, *rest]


def test_an_outage_wave_is_one_incident_and_its_posts_go_to_crisis(engine: Engine) -> None:
    changes: list[IncidentChange] = []
    tracker = IncidentTracker(CrisisDetector(DetectorConfig(), InMemoryStore()), KEY, [changes.append])
    recorder = Recorder()
    wired = engine.with_stream(StreamHooks(incidents=tracker, recorder=recorder, identity_key=KEY))
    results = [wired.triage(post) for post in _wave(12)]
    assert all(r.context is not None and r.context.incident is not None for r in results)
    assert {r.context.incident.id for r in results if r.context and r.context.incident} == {"default-000001"}
    assert all(r.routing is not None and (r.routing.queue, r.routing.rule) == ("crisis", "incidents")
               for r in results)
    alone = engine.triage(_wave(2)[1])
    assert alone.routing is not None and alone.routing.queue != "crisis" and alone.context is None
    assert [c.change for c in changes] == ["opened", "growing"]
    incident = tracker.incidents("default")[0]
    assert (incident.posts, incident.authors, incident.triggers) == (12, 12, ["outage"])
    assert incident.counts_by_channel == {"facebook": 4, "instagram": 4, "twitter": 4}
    assert [p.id for p, _ in recorder.saved] == [f"p{i}" for i in range(12)]
    assert "stream" in results[0].timings_ms and "route" in results[0].timings_ms


def test_a_resolved_incident_is_not_a_reason_any_more(engine: Engine) -> None:
    tracker = IncidentTracker(CrisisDetector(DetectorConfig(), InMemoryStore()), KEY)
    wired = engine.with_stream(StreamHooks(incidents=tracker))
    wired.triage_batch(_wave(6))
    assert [c.change for c in tracker.sweep(T0 + timedelta(hours=6))] == ["resolved"]
    later = Post(text="אין אינטרנט בחיפה", id="late", author=Author(handle="@late"), created_at=T0 + timedelta(hours=6))
    result = wired.triage(later)
    assert result.routing is not None and result.routing.rule != "incidents"


class Broken:
    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise ConnectionError("the database is down")
        return fail


def test_a_failing_store_or_detector_never_fails_triage(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    wired = engine.with_stream(StreamHooks(context=Broken(), incidents=Broken(), recorder=Broken(),  # type: ignore[arg-type]
                                           identity_key=KEY))
    result = wired.triage(Post(text="charged twice this month", id="x", created_at=T0))
    assert result.routing is not None and result.routing.queue == "billing"
    assert result.context is not None
    assert result.context.reasons == ["context unavailable (ConnectionError): triaged as a single post"]
    logged = {r.getMessage() for r in caplog.records}
    assert {"post context unavailable", "crisis detector failed", "post store failed: the post is not stored"} <= logged
    assert "the database is down" not in caplog.text  # exception messages may quote data: types only


def test_the_engine_asks_the_provider_before_the_model(engine: Engine) -> None:
    provider = InMemoryContextProvider()
    seen: list[str] = []
    original = provider.parent_post
    provider.parent_post = lambda post_id: seen.append(post_id) or original(post_id)  # type: ignore[method-assign]
    wired = engine.with_stream(StreamHooks(context=provider, identity_key=KEY))
    result = wired.triage(Post(text="same here", id="r1", created_at=T0, metadata={"parent_id": "p9"}))
    assert seen and seen[0] == "p9"
    assert result.context is not None and result.context.thread_id == "p9" and not result.context.me_too
    assert engine.stream.context is None  # with_stream made a copy


def test_stream_author_keys_are_keyed_hashes() -> None:
    a = author_key("acme", "twitter", "@dana", KEY)
    assert a == author_key("acme", "twitter", "DANA", KEY) and a.startswith("a") and len(a) == 17
    assert a != author_key("acme", "twitter", "@dana", IdentityKey.from_text("another-key-0123456789"))
    assert a != author_key("globex", "twitter", "@dana", KEY)
    post = Post(text="x", id="p", channel="twitter", author=Author(handle="@dana"), created_at=T0)
    result = TriageResult.model_validate({
        "post_id": "p", "language": {"language": "en", "confidence": 1.0, "method": "script"}, "labels": {},
        "heads": {}, "entities": [], "redacted_text": "x", "normalised_text": "x", "model_version": "t",
        "schema_name": "default"})
    assert event_from_triage(post, result).author is None  # no key: no author pseudonym at all
    assert event_from_triage(post, result, key=KEY).author == author_key("default", "twitter", "@dana", KEY)


class Observer:
    """Names an incident for every post: the engine routes them again with it."""

    def observe(self, items: Sequence[tuple[Post, TriageResult]]) -> list[IncidentRef | None]:
        return [IncidentRef(id="default-000042", state="opened", kind="volume", posts=9, first_post_id="a")
                for _ in items]


def test_posts_of_an_incident_are_routed_again_with_it(engine: Engine) -> None:
    wired = engine.with_stream(StreamHooks(incidents=Observer()))
    batch = wired.triage_batch([Post(text="the app crashes", created_at=T0), Post(text="thanks!", created_at=T0)])
    assert [r.routing.rule for r in batch if r.routing] == ["incidents", "incidents"]
    assert batch[0].routing is not None and batch[0].routing.reasons[0].startswith("open incident default-000042")

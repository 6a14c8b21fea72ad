"""The state table as the crisis detector's StateStore, and the store as a ContextProvider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import PostStore
from tests.store.conftest import KEY, T0, make_post, routed, triage_and_save
from triage.context import gather_context
from triage.engine import Engine
from triage.stream import CrisisDetector, DetectorConfig, InMemoryStore, StreamEvent


def test_state_is_compare_and_set(store: PostStore) -> None:
    state = store.state_store()
    assert state.version("acme") == 0 and state.load("acme") is None
    assert state.save("acme", {"n": 1}, expected_version=0) == 1
    assert state.save("acme", {"n": 2}, expected_version=0) is None  # someone else created it
    assert state.save("acme", {"n": 2}, expected_version=1) == 2
    assert state.save("acme", {"n": 3}, expected_version=1) is None  # stale writer
    snapshot = state.load("acme")
    assert snapshot is not None and (snapshot.version, snapshot.data) == (2, {"n": 2})
    assert state.brands() == ["acme"] and state.size_bytes("acme") == len('{"n":2}')
    assert store.state_store("other").brands() == []  # namespaces are separate


def test_two_stores_on_one_database_share_state(db_path: Path, engine: Engine) -> None:
    a = PostStore(f"sqlite:///{db_path}", identity_key=None, redact=engine.redact).state_store()
    b = PostStore(f"sqlite:///{db_path}", identity_key=None, redact=engine.redact).state_store()
    assert a.save("acme", {"הודעה": "שלום"}, 0) == 1
    snapshot = b.load("acme")
    assert snapshot is not None and snapshot.data == {"הודעה": "שלום"}


def _events() -> list[StreamEvent]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        StreamEvent(time=start + timedelta(minutes=7 * i), brand="acme", channel="facebook", post_id=f"p{i}",
                    intent="complaint" if i % 3 else "question", sentiment="negative", urgency="normal",
                    queue="care", text=f"the app is down again {i % 4}", author=f"a{i % 9}")
        for i in range(120)
    ]


def test_the_crisis_detector_keeps_its_state_in_the_store(store: PostStore) -> None:
    db_state, memory = store.state_store(), InMemoryStore()
    for backend in (db_state, memory):
        detector = CrisisDetector(DetectorConfig(), backend)
        detector.process(_events())
        getattr(detector, "flush", lambda: None)()
    loaded, expected = db_state.load("acme"), memory.load("acme")
    assert loaded is not None and expected is not None
    assert loaded.data == expected.data and loaded.version == expected.version


def test_gather_context_over_the_store_finds_the_third_contact(store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "my order 4471902 never arrived", post_id="a", handle="dana")
    triage_and_save(store, engine, "still waiting...", post_id="b", handle="dana", when=T0 + timedelta(days=1))
    store.add_event("a", "replied", "agent", at=T0 + timedelta(hours=2))
    post = make_post("third time I write, nobody answers!", post_id="c", handle="dana",
                     when=T0 + timedelta(days=2))
    context = gather_context(store.context_provider(), engine.prepare(post), brand="acme", key=KEY)
    assert context.is_follow_up and context.repeat_count == 3 and context.urgency_floor == "high"
    assert context.linked_post_id == "b" and context.case_id == "a"
    assert context.awaiting_brand  # the reply (in thread a) came before the second post
    stored = store.save_result(post, routed(engine.triage(post)), context=context)
    assert stored.context is not None and stored.context["repeat_count"] == 3
    assert stored.customer_key == context.customer_key


def test_gather_context_follows_an_order_number_across_channels(store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "order 4471902 is late, call 052-3456789", post_id="a", handle="dana")
    post = make_post("any update on order 4471902? call 0523456789", post_id="b", channel="whatsapp",
                     handle="+972523456789", when=T0 + timedelta(hours=5))
    context = gather_context(store.context_provider(), engine.prepare(post), brand="acme", key=KEY)
    assert context.is_follow_up and context.linked_post_id == "a" and context.repeat_count == 2
    assert context.urgency_floor == "normal"


def test_reposts_from_many_customers_are_a_campaign(store: PostStore, engine: Engine) -> None:
    text = "Your company steals money from pensioners, shame on you!"
    for i in range(3):
        triage_and_save(store, engine, text, post_id=f"p{i}", handle=f"user{i}", when=T0 + timedelta(minutes=i))
    post = make_post(text.upper(), post_id="p9", handle="user9", when=T0 + timedelta(minutes=9))
    context = gather_context(store.context_provider(), engine.prepare(post), brand="acme", key=KEY)
    assert context.repost is not None and context.repost.campaign and context.repost.other_customers == 3
    assert context.repost.first_post_id == "p0" and not context.is_follow_up

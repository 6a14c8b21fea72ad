"""The post store's repository: what it stores, what it never stores, events, audit, identity, purge, retention."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from store import PostStore
from tests.store.conftest import KEY, T0, make_post, routed, triage_and_save
from triage.engine import Engine
from triage.errors import ConfigError, InputError

PHONE, EMAIL, IL_ID, CARD = "052-3456789", "Dana.Katz@Example.com", "123456782", "4580 4580 4580 4580"
RAW = f"my phone {PHONE}, mail {EMAIL}, id {IL_ID}, card {CARD}, order 4471902 never came"


def _database_bytes(db_path: Path) -> bytes:
    """The database file and its WAL, as the disk holds them (checkpointed first)."""
    with sqlite3.connect(db_path) as con:
        con.execute("PRAGMA wal_checkpoint(FULL)")
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def test_save_result_stores_the_decision_and_references(store: PostStore, engine: Engine) -> None:
    _, result, stored = triage_and_save(store, engine, "charged twice, order 4471902", post_id="fb-1",
                                        customer_id="CRM-9", thread_id="t-1")
    got = store.get_post("fb-1")
    assert got is not None and got == stored
    assert got.brand == "acme" and got.channel == "facebook" and got.thread_id == "t-1"
    assert got.labels == result.labels and got.queue == "care" and got.priority == "P2"
    assert got.actions == ["reply"] and got.needs_human is True and got.reasons == ["rule 'r1' matched"]
    assert got.model_version == result.model_version and got.customer_id == "CRM-9"
    assert got.created_at == T0 and got.triaged_at.tzinfo is not None
    assert got.customer_key and got.author_hash and len(got.author_hash) == 64


def test_personal_data_never_reaches_the_database_file(store: PostStore, engine: Engine, db_path: Path) -> None:
    _, _, stored = triage_and_save(store, engine, RAW, post_id="wa-1", channel="whatsapp",
                                   handle="+972523456789")
    assert "[PHONE]" in stored.redacted_text and "[EMAIL]" in stored.redacted_text
    assert "[IL_ID]" in stored.redacted_text and "[CARD]" in stored.redacted_text
    store.add_event("wa-1", "replied", "agent-7", note=f"called back on {PHONE}, wrote to {EMAIL}")
    store.audit("triage", "hide", f"hid a post that showed card {CARD}", model_version="fake-0", subject="wa-1")
    raw = _database_bytes(db_path)
    assert raw  # the file exists and holds the post
    assert b"[PHONE]" in raw
    forbidden = [PHONE, "0523456789", "523456789", "972523456789", EMAIL, EMAIL.lower(), IL_ID, CARD,
                 CARD.replace(" ", ""), "Dana Katz", "dana_k"]
    for value in forbidden:
        assert value.encode("utf-8") not in raw, value
        assert value.encode("utf-16-le") not in raw, value


def test_saving_a_post_again_replaces_the_decision_and_keeps_its_time(store: PostStore, engine: Engine) -> None:
    post, result, _ = triage_and_save(store, engine, "where is my order?", post_id="p1")
    again = routed(result, queue="billing", priority="P1").model_copy(update={"model_version": "v2"})
    store.save_result(post.model_copy(update={"created_at": None}), again)
    got = store.get_post("p1")
    assert got is not None and (got.queue, got.priority, got.model_version) == ("billing", "P1", "v2")
    assert got.created_at == T0
    assert store.stats()["posts"] == {"acme": 1}


def test_a_result_whose_redacted_text_leaks_is_refused(store: PostStore, engine: Engine) -> None:
    post = make_post(f"call me {PHONE}")
    result = routed(engine.triage(post))
    leaky = result.model_copy(update={"redacted_text": post.text})
    with pytest.raises(InputError) as err:
        store.save_result(post, leaky)
    assert err.value.code == "unredacted_text"


def test_routing_reasons_lose_personal_data(store: PostStore, engine: Engine) -> None:
    post = make_post(f"call me {PHONE}", post_id="p2")
    result = routed(engine.triage(post), reasons=[f"keyword matched near {PHONE}"])
    assert store.save_result(post, result).reasons == ["keyword matched near [PHONE]"]


def test_a_reply_joins_its_parents_thread(store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "where is my order?", post_id="root")
    triage_and_save(store, engine, "still waiting", post_id="r1", parent_id="root", when=T0 + timedelta(hours=1))
    triage_and_save(store, engine, "hello??", post_id="r2", parent_id="r1", when=T0 + timedelta(hours=2))
    assert [p.id for p in store.thread_posts("root")] == ["root", "r1", "r2"]
    assert store.get_post("r2").parent_id == "r1"  # type: ignore[union-attr]


def test_events_and_the_brands_last_reply(store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "where is my order?", post_id="root", thread_id="t9")
    assert store.last_brand_reply("t9") is None
    store.add_event("root", "assigned", "router", at=T0 + timedelta(minutes=1))
    store.add_event("root", "replied", "agent-1", at=T0 + timedelta(minutes=5))
    store.add_event("root", "replied", "agent-2", at=T0 + timedelta(minutes=9))
    reply = store.last_brand_reply("t9")
    assert reply is not None and reply.actor == "agent-2" and reply.at == T0 + timedelta(minutes=9)
    kinds = [e.kind for e in store.list_events(thread_id="t9")]
    assert kinds == ["assigned", "replied", "replied"]
    assert [e.kind for e in store.list_events(post_id="root", since=T0 + timedelta(minutes=6))] == ["replied"]


def test_bad_events_are_input_errors(store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "hi", post_id="p1")
    with pytest.raises(InputError) as err:
        store.add_event("p1", "liked", "agent")
    assert err.value.code == "unknown_event_kind"
    with pytest.raises(InputError) as err:
        store.add_event("nope", "replied", "agent")
    assert err.value.code == "unknown_post"


def test_the_audit_log_is_append_only(store: PostStore) -> None:
    entry = store.audit("ops", "model_change", "default model fake-0 -> fake-1", model_version="fake-1")
    assert [e.action for e in store.audit_log()] == ["model_change"]
    for statement in ("UPDATE audit SET reason = 'x'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"), store.session() as session:
            session.execute(text(statement))
    assert store.audit_log() == [entry]


def test_identity_links_the_same_customer_across_channels(store: PostStore, engine: Engine) -> None:
    _, _, a = triage_and_save(store, engine, f"my number is {PHONE}", post_id="fb", handle="dana_k")
    _, _, b = triage_and_save(store, engine, "call me on +972-52-345-6789", post_id="wa", channel="whatsapp",
                              handle="someone-else", when=T0 + timedelta(hours=1))
    _, _, c = triage_and_save(store, engine, "hello", post_id="ig", channel="instagram", handle="@Dana_K")
    _, _, other_brand = triage_and_save(store, engine, f"my number is {PHONE}", post_id="nw", brand="northwind")
    assert a.customer_key == b.customer_key  # the same phone, written two ways
    assert c.customer_key != a.customer_key  # a handle on another channel is another identity
    assert other_brand.customer_key not in (None, a.customer_key)  # brands never share customers
    assert [p.id for p in store.recent_posts_for_customer(a.customer_key or "")] == ["wa", "fb"]


def test_customer_id_links_posts_with_nothing_else_in_common(store: PostStore, engine: Engine) -> None:
    _, _, a = triage_and_save(store, engine, "hi", post_id="a", handle="x1", customer_id="CRM-1")
    _, _, b = triage_and_save(store, engine, "hi again", post_id="b", channel="email", handle="x2",
                              customer_id="CRM-1")
    assert a.customer_key == b.customer_key


def test_without_an_identity_key_nothing_is_hashed_or_linked(db_path: Path, engine: Engine) -> None:
    store = PostStore(f"sqlite:///{db_path}", identity_key=None, redact=engine.redact)
    _, _, stored = triage_and_save(store, engine, f"call me {PHONE}", post_id="p")
    assert stored.author_hash is None and stored.customer_key is None
    assert store.stats()["identity_links"] == {}
    with pytest.raises(ConfigError):
        store.purge_customer(channel="facebook", handle="dana_k")


def test_retention_deletes_only_the_brands_old_posts(store: PostStore, engine: Engine) -> None:
    now = T0 + timedelta(days=40)
    triage_and_save(store, engine, "old acme post", post_id="old")
    triage_and_save(store, engine, "new acme post", post_id="new", when=now - timedelta(days=1), handle="other")
    triage_and_save(store, engine, "old northwind post", post_id="nw", brand="northwind")
    store.add_event("old", "resolved", "agent")
    dry = store.apply_retention("acme", 30, now=now, dry_run=True)
    assert (dry.posts, dry.events, dry.dry_run) == (1, 1, True)
    assert store.get_post("old") is not None
    report = store.apply_retention("acme", 30, now=now)
    assert (report.posts, report.events, report.identity_links) == (1, 1, 1)
    assert store.get_post("old") is None and store.get_post("new") and store.get_post("nw")
    assert store.list_events(post_id="old") == []
    assert store.audit_log()[-1].action == "retention"
    with pytest.raises(InputError):
        store.apply_retention("acme", 0)


def test_purge_by_customer_id_forgets_every_trace(store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, f"order 4471902, phone {PHONE}", post_id="a", customer_id="CRM-1")
    triage_and_save(store, engine, "still waiting", post_id="b", channel="whatsapp", handle="x",
                    when=T0 + timedelta(hours=1), customer_id="CRM-1")
    triage_and_save(store, engine, f"again: {PHONE}", post_id="c", channel="twitter", handle="y",
                    when=T0 + timedelta(hours=2))  # linked through the phone only
    triage_and_save(store, engine, "someone else entirely", post_id="z", handle="zed")
    store.add_event("a", "replied", "agent")
    report = store.purge_customer(customer_id="CRM-1")
    assert (report.posts, report.events) == (3, 1)
    assert [store.get_post(i) is None for i in "abcz"] == [True, True, True, False]
    links = store.stats()["identity_links"]
    assert links == {"handle": 1}  # only the other customer's handle is left
    last = store.audit_log()[-1]
    assert last.action == "purge_customer" and "CRM-1" not in last.reason and last.subject is None


def test_purge_by_handle_on_a_channel(store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "first", post_id="a", handle="@Dana_K")
    triage_and_save(store, engine, "second", post_id="b", handle="dana_k", when=T0 + timedelta(hours=1))
    triage_and_save(store, engine, "same handle elsewhere", post_id="c", channel="twitter", handle="dana_k")
    report = store.purge_customer(channel="facebook", handle="DANA_K")
    assert report.posts == 2 and store.get_post("c") is not None
    with pytest.raises(InputError):
        store.purge_customer(channel="facebook")
    with pytest.raises(InputError):
        store.purge_customer(customer_id="x", channel="facebook", handle="y")


def test_the_identity_key_is_required_to_find_a_handle_again(db_path: Path, engine: Engine) -> None:
    first = PostStore(f"sqlite:///{db_path}", identity_key=KEY, redact=engine.redact)
    triage_and_save(first, engine, "hello", post_id="a", handle="dana_k")
    other_key = PostStore(f"sqlite:///{db_path}", identity_key=type(KEY).from_text("another-key-0123456789"),
                          redact=engine.redact)
    assert other_key.purge_customer(channel="facebook", handle="dana_k").posts == 0
    assert first.purge_customer(channel="facebook", handle="dana_k").posts == 1

"""The stream through the API: posts stored with their context, /v1/events, /v1/posts, /v1/incidents, webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.keys import make_entry
from serving.settings import ServeSettings
from store.webhooks import verify_signature
from tests.serving.conftest import PHONE, assert_error, engine_with
from tests.store.test_webhooks import Receiver
from triage.engine import Engine
from triage.errors import ConfigError
from triage.loading import load_engine

KEY = "serving-test-identity-key-0123"
SECRET = "serving-webhook-secret"


@pytest.fixture(scope="module")
def routed(shared_engine: Engine) -> Engine:
    router = load_engine(classifier=shared_engine.classifier, replies=False).router
    return engine_with(shared_engine, router=router)


@pytest.fixture()
def stream_client(make_client: Callable[..., TestClient], routed: Engine, tmp_path: Path) -> Callable[..., TestClient]:
    def build(**settings: Any) -> TestClient:
        values = {"store_url": f"sqlite:///{tmp_path / 'store.db'}", "identity_key": KEY, "microbatch": False,
                  **settings}
        return make_client(engine=routed, **values)

    return build


def _post(client: TestClient, text: str, post_id: str, minute: int, channel: str = "facebook", handle: str = "dana_k",
          headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    body = {"text": text, "id": post_id, "channel": channel, "author": {"handle": handle},
            "created_at": f"2026-06-07T09:{minute:02d}:00+03:00", **extra}
    r = client.post("/v1/triage", json=body, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()


def test_without_a_store_the_stream_routes_say_so(client: TestClient) -> None:
    event = {"post_id": "fb-1", "kind": "replied", "actor": "agent-17"}
    assert_error(client.post("/v1/events", json=event), 503, "store_not_configured")
    assert_error(client.post("/v1/events", json={**event, "kind": "closed"}), 422, "invalid_request", "kind")
    assert_error(client.get("/v1/posts/fb-1"), 503, "store_not_configured")
    assert_error(client.get("/v1/incidents"), 503, "store_not_configured")
    result = client.post("/v1/triage", json={"text": "charged twice"}).json()
    assert result["context"] is None


def test_posts_are_stored_with_their_context_across_channels(stream_client: Callable[..., TestClient]) -> None:
    client = stream_client()
    first = _post(client, f"charged twice this month, call me {PHONE}", "fb-1", 0)
    assert first["context"]["is_follow_up"] is False
    again = _post(client, "still waiting, third time I write", "wa-1", 50, channel="whatsapp", handle="+972523456789")
    ctx = again["context"]
    assert ctx["is_follow_up"] and ctx["case_id"] == "fb-1" and ctx["linked_post_id"] == "fb-1"
    assert ctx["repeat_count"] == 3 and ctx["urgency_raised_from"] == "normal" and again["labels"]["urgency"] == "high"
    assert again["routing"]["queue"] == first["routing"]["queue"] == "billing" and again["routing"]["priority"] == "P2"
    stored = client.get("/v1/posts/wa-1")
    assert stored.status_code == 200, stored.text
    data = stored.json()
    assert data["context"]["case_id"] == "fb-1" and data["queue"] == "billing" and data["events"] == []
    assert "author_hash" not in data and PHONE not in stored.text
    assert data["customer_key"] == client.get("/v1/posts/fb-1").json()["customer_key"]


def test_helpdesk_events_are_idempotent(stream_client: Callable[..., TestClient]) -> None:
    client = stream_client()
    _post(client, "charged twice", "fb-1", 0)
    event = {"post_id": "fb-1", "kind": "replied", "actor": "agent-17", "at": "2026-06-07T09:04:00+03:00",
             "event_id": "zd-1", "note": f"called her on {PHONE}"}
    first = client.post("/v1/events", json=event)
    assert first.status_code == 201 and first.json()["created"] is True
    assert first.json()["note"] == "called her on [PHONE]"
    repeat = client.post("/v1/events", json=event)
    assert repeat.status_code == 200 and repeat.json()["created"] is False and repeat.json()["id"] == first.json()["id"]
    assert_error(client.post("/v1/events", json={**event, "kind": "resolved"}), 409, "event_id_conflict", "event_id")
    assert_error(client.post("/v1/events", json={**event, "post_id": "nope", "event_id": "zd-2"}), 404,
                 "unknown_post", "post_id")
    assert_error(client.post("/v1/events", json={**event, "at": "2026-06-07T09:04:00"}), 422, "invalid_request", "at")
    events = client.get("/v1/posts/fb-1").json()["events"]
    assert [(e["kind"], e["event_id"]) for e in events] == [("replied", "zd-1")]
    assert_error(client.get("/v1/posts/nope"), 404, "unknown_post", "post_id")


def _wait(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_an_outage_wave_is_one_incident_routed_to_crisis_and_a_signed_webhook(
    stream_client: Callable[..., TestClient],
) -> None:
    receiver = Receiver([])
    try:
        client = stream_client(webhook_urls=[receiver.url], webhook_secret=SECRET)
        results = [_post(client, "אין אינטרנט בחיפה, עובר לפרטנר" if i == 0 else "אין אינטרנט בחיפה", f"p{i}", i,
                         handle=f"u{i}") for i in range(12)]
        assert {r["context"]["incident"]["id"] for r in results} == {"default-000001"}
        assert all(r["routing"]["queue"] == "crisis" and r["routing"]["rule"] == "incidents" for r in results)
        listed = client.get("/v1/incidents").json()["incidents"]
        assert [(i["id"], i["state"], i["posts"]) for i in listed] == [("default-000001", "growing", 12)]
        assert client.get("/v1/incidents", params={"state": "resolved"}).json() == {"incidents": []}
        one = client.get("/v1/incidents/default-000001")
        assert one.status_code == 200 and one.json()["triggers"] == ["outage"]
        assert_error(client.get("/v1/incidents/default-000009"), 404, "unknown_incident", "incident_id")
        assert_error(client.get("/v1/incidents", params={"state": "closed"}), 422, "invalid_request", "query.state")
        assert _wait(lambda: len(receiver.requests) >= 2)
    finally:
        receiver.close()
    kinds = [h["x-triage-event"] for h, _ in receiver.requests]
    assert kinds == ["incident.opened", "incident.growing"]
    headers, body = receiver.requests[0]
    assert verify_signature(SECRET, headers["x-triage-timestamp"], body, headers["x-triage-signature"])


def test_a_dead_webhook_never_fails_triage(stream_client: Callable[..., TestClient]) -> None:
    client = stream_client(webhook_urls=["http://127.0.0.1:9/"], webhook_secret=SECRET, webhook_retries=0)
    started = time.monotonic()
    result = _post(client, "אין אינטרנט בחיפה, עובר לפרטנר", "p0", 0)
    assert result["context"]["incident"] is not None and time.monotonic() - started < 5


def test_a_key_sees_only_its_brands(stream_client: Callable[..., TestClient], tmp_path: Path) -> None:
    ops_key, ops = make_entry("ops", "*")
    nw_key, nw = make_entry("nw", "northwind")
    client = stream_client(api_keys=[ops, nw])
    as_ops, as_nw = {"x-api-key": ops_key}, {"x-api-key": nw_key}
    _post(client, "אין אינטרנט בחיפה, עובר לפרטנר", "p0", 0, headers=as_ops)
    assert client.get("/v1/posts/p0", headers=as_ops).status_code == 200
    assert_error(client.get("/v1/posts/p0", headers=as_nw), 404, "unknown_post", "post_id")
    assert_error(client.post("/v1/events", json={"post_id": "p0", "kind": "replied", "actor": "x"}, headers=as_nw),
                 404, "unknown_post", "post_id")
    assert client.get("/v1/incidents", headers=as_nw).json() == {"incidents": []}
    assert_error(client.get("/v1/incidents", params={"brand": "default"}, headers=as_nw), 403, "forbidden_brand",
                 "brand")
    assert_error(client.get("/v1/incidents/default-000001", headers=as_nw), 404, "unknown_incident", "incident_id")
    assert len(client.get("/v1/incidents", headers=as_ops).json()["incidents"]) == 1


def test_stream_settings_are_checked(make_settings: Callable[..., ServeSettings]) -> None:
    from serving.settings import load_settings

    with pytest.raises(ConfigError, match="TRIAGE_WEBHOOK_URLS needs TRIAGE_WEBHOOK_SECRET"):
        load_settings(webhook_urls="http://127.0.0.1:9/hook", webhook_secret="")
    with pytest.raises(ConfigError, match=r"TRIAGE_IDENTITY_KEY: .*at least 16 bytes"):
        load_settings(identity_key="short")
    with pytest.raises(ConfigError, match=r"TRIAGE_STORE_RETENTION: .*expected brand=days"):
        load_settings(store_retention="default=0")
    s = load_settings(webhook_urls="http://a/1, https://b/2", webhook_secret="s", store_retention="default=365",
                      identity_key=KEY)
    assert s.webhook_urls == ["http://a/1", "https://b/2"] and s.store_retention == {"default": 365}
    assert KEY not in repr(s) and "https://b/2" in s.to_env()["TRIAGE_WEBHOOK_URLS"]


def test_a_model_swapped_in_later_keeps_the_stream(stream_client: Callable[..., TestClient], routed: Engine) -> None:
    client = stream_client()
    live = client.app.state.live  # type: ignore[attr-defined]
    runner = live.make_runner(routed)  # what a registry promotion does with the new model's engine
    assert runner.engine.stream.context is not None and runner.engine.stream.recorder is not None
    assert routed.stream.context is None  # the shared engine itself is untouched


def test_personal_data_never_reaches_the_store_through_the_api(stream_client: Callable[..., TestClient],
                                                                tmp_path: Path) -> None:
    from tests.serving.conftest import PII, PII_POST

    client = stream_client()
    body = {"text": PII_POST, "id": "pii-1", "channel": "whatsapp", "author": {"name": "Dana Cohen",
            "handle": "+972523456789"}, "thread": [{"role": "customer", "text": PII_POST}],
            "metadata": {"phone": PHONE, "thread_id": "t-1"}}
    assert client.post("/v1/triage", json=body).status_code == 200
    event = {"post_id": "pii-1", "kind": "replied", "actor": "agent-17", "note": PII_POST}
    assert client.post("/v1/events", json=event).status_code == 201
    client.close()  # the lifespan closes the store: the WAL is checkpointed or still beside the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    for value in (*PII, "Dana Cohen", "+972523456789"):
        assert value.encode() not in raw, value


def test_a_repeated_query_parameter_is_refused_not_reduced_to_its_last_copy(client: TestClient) -> None:
    # ?brand=a&brand=b must never read brand b for a caller that asked for brand a (found by schemathesis).
    assert_error(client.get("/v1/incidents?brand=acme&brand=globex"), 422, "invalid_request", "brand")

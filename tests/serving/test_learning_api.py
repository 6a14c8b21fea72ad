"""The learning loop's API: whole-decision feedback, listing, audit log, review queue, registry hot swap,
shadow mode. Real SQLite files; the FakeClassifier; registry folders whose models a test loader builds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from learning.registry import Registry
from serving.app import create_app
from serving.keys import make_entry
from serving.settings import ServeSettings
from store.poststore import PostStore
from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from tests.serving.conftest import EMAIL, PHONE, PII, RecordingRouter, assert_error, engine_with
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.schema import LabelSchema
from triage.types import Classification, Post, PostContext, RoutingDecision


class ActingRouter(RecordingRouter):
    """Routes posts that mention "spam" to hide + escalate (automated actions the audit log must record)."""

    def route(self, context: PostContext, classification: Classification, now: datetime) -> RoutingDecision:
        decision = super().route(context, classification, now)
        if "spam" in context.post.text:
            return decision.model_copy(update={"actions": ["hide", "escalate"], "rule": "spam-rule"})
        return decision


class UnsureClassifier(FakeClassifier):
    """The fake, less sure of texts with 'maybe' (so the review queue has something to rank)."""

    def predict(self, texts: Any) -> ClassifierOutput:
        out = super().predict(texts)
        for i, text in enumerate(texts):
            if "maybe" in text:
                for p in out.probabilities.values():
                    p[i] = np.full(p.shape[1], 1.0 / p.shape[1], dtype=np.float32)
        return out


class SlowClassifier(FakeClassifier):
    def predict(self, texts: Any) -> ClassifierOutput:
        if any("slow" in t for t in texts):
            time.sleep(0.6)
        return super().predict(texts)


def _engine(schema: LabelSchema, shared: Engine, version: str, cls: type = FakeClassifier, **parts: Any) -> Engine:
    return engine_with(shared, classifier=cls(schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK, version=version),
                       **parts)


@pytest.fixture()
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("TRIAGE_STORE_URL", url)
    return url


def _feedback(client: TestClient, **body: Any) -> Any:
    return client.post("/v1/feedback", json={"post_id": "fb-1", "text": f"מחכה לחבילה, תחזרו אליי {PHONE}", **body})


def test_a_whole_decision_is_stored_row_by_row_redacted_and_listed(client: TestClient) -> None:
    r = _feedback(client, actor="agent-17", note=f"called {PHONE}", corrections={
        "labels": {"intent": "complaint", "urgency": "high"}, "queue": "shipping", "reply_mode": "private",
        "actions": ["reply", "escalate"],
        "reply": {"outcome": "edited", "template_id": "he.delay", "text": f"נחזור אליך ל-{PHONE} או {EMAIL}"}})
    assert r.status_code == 201, r.text
    body = r.json()
    stored = [(c["head"], c["label"], c["kind"]) for c in body["corrections"]]
    assert stored == [("intent", "complaint", "label"), ("urgency", "high", "label"), ("queue", "shipping", "routing"),
                      ("reply_mode", "private", "routing"), ("actions", "escalate+reply", "action"),
                      ("reply", "edited", "reply")]
    assert body["id"] == body["corrections"][0]["id"] and body["actor"] == "agent-17"
    reply = body["corrections"][-1]
    assert reply["template_id"] == "he.delay" and reply["reply_text"] == "נחזור אליך ל-[PHONE] או [EMAIL]"
    assert all(secret not in r.text for secret in PII)
    page = client.get("/v1/feedback", params={"post_id": "fb-1", "limit": 4}).json()
    assert [i["head"] for i in page["items"]] == ["intent", "urgency", "queue", "reply_mode"]
    rest = client.get("/v1/feedback", params={"post_id": "fb-1", "after": page["next_after"]}).json()
    assert [i["head"] for i in rest["items"]] == ["actions", "reply"] and rest["next_after"] is None
    routing = client.get("/v1/feedback", params={"kind": "routing"}).json()["items"]
    assert {i["head"] for i in routing} == {"queue", "reply_mode"}
    assert client.get("/v1/feedback", params={"actor": "nobody"}).json() == {"items": [], "next_after": None}


def test_the_original_contract_and_its_errors_still_hold(client: TestClient) -> None:
    r = _feedback(client, head="urgency", label="high")
    assert r.status_code == 201 and r.json()["head"] == "urgency" and len(r.json()["corrections"]) == 1
    assert_error(_feedback(client, head="urgency"), 422, "missing_field", "label")
    assert_error(_feedback(client, label="high"), 422, "missing_field", "head")
    assert_error(_feedback(client), 422, "missing_field", "head")
    assert_error(_feedback(client, corrections={"labels": {"mood": "x"}}), 422, "unknown_head",
                 "corrections.labels.mood")
    assert_error(_feedback(client, corrections={"labels": {"intent": "x"}}), 422, "unknown_label",
                 "corrections.labels.intent")
    assert_error(_feedback(client, corrections={"actions": ["none", "hide"]}), 422, "unknown_label",
                 "corrections.actions")
    assert_error(_feedback(client, corrections={"queue": "no spaces allowed"}), 422, "unknown_label",
                 "corrections.queue")
    assert_error(_feedback(client, corrections={"reply_mode": "loud"}), 422, "invalid_request",
                 "corrections.reply_mode")
    assert_error(_feedback(client, corrections={"reply": {"outcome": "chosen", "text": "a\u202eb"}}), 422,
                 "bidi_control",
                 "corrections.reply.text")
    assert_error(client.get("/v1/feedback", params={"kind": "mood"}), 422, "invalid_request", "query.kind")


def test_a_tenant_sees_its_own_corrections_an_operator_sees_all(make_client: Callable[..., TestClient]) -> None:
    acme_key, acme = make_entry("acme")
    ops_key, ops = make_entry("ops", "*")
    client = make_client(api_keys=[acme, ops])
    assert _feedback(client, head="intent", label="praise", headers=None).status_code == 401
    for key in (acme_key, ops_key):
        r = client.post("/v1/feedback", json={"post_id": "p", "head": "intent", "label": "praise", "text": "תודה"},
                        headers={"x-api-key": key})
        assert r.status_code == 201
    mine = client.get("/v1/feedback", params={"tenant": "ops"}, headers={"x-api-key": acme_key}).json()["items"]
    assert [i["tenant"] for i in mine] == ["acme"]
    every = client.get("/v1/feedback", headers={"x-api-key": ops_key}).json()["items"]
    assert [i["tenant"] for i in every] == ["acme", "ops"]
    only = client.get("/v1/feedback", params={"tenant": "acme"}, headers={"x-api-key": ops_key}).json()["items"]
    assert [i["tenant"] for i in only] == ["acme"]


def test_automated_actions_and_accepted_replies_reach_the_audit_log(
    make_client: Callable[..., TestClient], shared_engine: Engine, store_url: str
) -> None:
    client = make_client(engine=engine_with(shared_engine, router=ActingRouter()))
    assert client.post("/v1/triage", json={"text": f"spam spam {PHONE}", "id": "tw-9"}).status_code == 200
    assert client.post("/v1/triage", json={"text": "thanks", "id": "tw-10"}).status_code == 200
    r = _feedback(client, actor="agent-3", corrections={"reply": {"outcome": "chosen", "template_id": "t1"}})
    assert r.status_code == 201
    live = client.app.state.live  # type: ignore[attr-defined]
    assert live.audit.flush(5)
    items = client.get("/v1/audit").json()["items"]
    assert [(i["actor"], i["action"], i["subject"]) for i in items] == [
        ("triage", "hide", "tw-9"), ("triage", "escalate", "tw-9"), ("agent-3", "reply_accepted", "fb-1")]
    assert items[0]["model_version"] == "fake-0" and "spam-rule" in items[0]["reason"]
    assert PHONE not in json.dumps(items)
    assert [i["action"] for i in client.get("/v1/audit", params={"action": "escalate"}).json()["items"]] == ["escalate"]
    page = client.get("/v1/audit", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_after"] == page["items"][-1]["id"]


def test_the_audit_log_needs_a_store_and_an_operator_key(make_client: Callable[..., TestClient],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGE_STORE_URL", raising=False)
    assert_error(make_client().get("/v1/audit"), 503, "storage_unavailable")
    key, entry = make_entry("acme")
    client = make_client(api_keys=[entry])
    assert_error(client.get("/v1/audit", headers={"x-api-key": key}), 403, "forbidden_brand")


def test_the_review_queue_ranks_unlabeled_stored_posts_with_reasons(
    make_client: Callable[..., TestClient], shared_engine: Engine, default_schema: LabelSchema, store_url: str
) -> None:
    engine = _engine(default_schema, shared_engine, "fake-0", UnsureClassifier)
    store = PostStore(store_url, identity_key=None)
    texts = {"p1": "thanks a lot", "p2": "maybe cancel maybe not", "p3": "maybe a question maybe",
             "p4": "charged twice"}
    for pid, text in texts.items():
        post = Post(text=text, id=pid)
        store.save_result(post, engine.triage(post))
    store.close()
    client = make_client(engine=engine)
    assert _feedback(client, post_id="p3", head="intent", label="question").status_code == 201
    body = client.get("/v1/review-queue", params={"limit": 2}).json()
    assert body["pool"] == 3 and body["labeled_excluded"] == 1 and body["model_version"] == "fake-0"
    first = body["items"][0]
    assert first["post_id"] == "p2" and first["score"] > body["items"][1]["score"]
    assert any("margin" in reason for reason in first["reasons"]) and any("cluster" in r for r in first["reasons"])
    assert set(first["heads"]) == {"intent", "sentiment", "urgency"}


# Registry: hot swap and shadow -------------------------------------------------------------------------------


def _registry(root: Path, *keys: str, live: str, shadow: str | None = None) -> Registry:
    """A registry.json naming model folders that the test loader turns into fake engines."""
    models = {}
    for key in keys:
        (root / "models" / key).mkdir(parents=True, exist_ok=True)
        models[key] = {"path": f"models/{key}", "added_at": key, "compare": None}
    history = [{"action": "promote", "live": live, "previous": None}]
    data = {"format": 1, "live": live, "shadow": shadow, "history": history, "models": models}
    (root / "registry.json").write_text(json.dumps(data), encoding="utf-8")
    return Registry(root)


def _set(root: Path, **changes: Any) -> None:
    data = json.loads((root / "registry.json").read_text(encoding="utf-8"))
    data.update(changes)
    time.sleep(0.01)  # a new mtime for the poller
    (root / "registry.json").write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture()
def registry_client(tmp_path: Path, shared_engine: Engine, default_schema: LabelSchema,
                    ) -> Iterator[Callable[..., TestClient]]:
    clients = []

    def build(root: Path, **overrides: Any) -> TestClient:
        def loader(path: Path) -> Engine:
            cls = SlowClassifier if path.name.endswith("@1") else FakeClassifier
            fallback = {**FAKE_FALLBACK, "intent": "question"} if path.name.endswith("@3") else FAKE_FALLBACK
            return engine_with(shared_engine, classifier=cls(default_schema, rules=FAKE_RULES, fallback=fallback,
                                                             version=path.name))

        settings = ServeSettings(database_url=f"sqlite:///{tmp_path / 'fb.db'}", warm_up=False, registry=root,
                                 registry_poll_s=0.05, request_timeout_s=5, **overrides)
        app = create_app(settings, engine=loader(Registry(root).live_dir()))  # type: ignore[arg-type]
        app.state.engine_loader = loader
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for c in clients:
        c.__exit__(None, None, None)


def _wait_for(client: TestClient, version: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/v1/model").json()["model_version"] != version:
        assert time.monotonic() < deadline, f"the server never switched to {version}"
        time.sleep(0.05)


def test_a_promotion_switches_every_request_over_without_dropping_one(
    tmp_path: Path, registry_client: Callable[..., TestClient]
) -> None:
    root = tmp_path / "registry"
    _registry(root, "m@1", "m@2", live="m@1")
    client = registry_client(root)
    assert client.get("/v1/model").json()["model_version"] == "m@1"
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(client.post("/v1/triage", json={"text": "thanks"}).status_code)

    in_flight: dict[str, Any] = {}
    slow = threading.Thread(target=lambda: in_flight.update(r=client.post("/v1/triage", json={"text": "slow one"})))
    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    slow.start()
    time.sleep(0.1)  # the slow request is inside the old model now
    _set(root, live="m@2", history=[{"action": "promote", "live": "m@1"}, {"action": "promote", "live": "m@2",
                                                                            "previous": "m@1"}])
    _wait_for(client, "m@2")
    slow.join()
    stop.set()
    for t in threads:
        t.join()
    assert in_flight["r"].status_code == 200 and in_flight["r"].json()["model_version"] == "m@1"
    assert statuses and set(statuses) == {200}
    assert client.post("/v1/triage", json={"text": "thanks"}).json()["model_version"] == "m@2"
    models = client.get("/v1/models").json()
    assert models["live"] == "m@2" and models["worker"]["live"] == "m@2" and models["worker"]["switches"] == 1
    _set(root, live="m@1")  # a rollback is the same change of pointer
    _wait_for(client, "m@1")


def test_a_model_that_does_not_load_leaves_the_live_one_serving(
    tmp_path: Path, registry_client: Callable[..., TestClient]
) -> None:
    root = tmp_path / "registry"
    _registry(root, "m@1", "m@2", live="m@2")
    client = registry_client(root)
    client.app.state.live.loader = lambda path: (_ for _ in ()).throw(OSError(
        "model.onnx is missing"))  # type: ignore[attr-defined]
    _set(root, live="m@1")
    deadline = time.monotonic() + 5
    while not client.get("/v1/models").json()["worker"]["load_error"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "model.onnx is missing" in client.get("/v1/models").json()["worker"]["load_error"]
    assert client.post("/v1/triage", json={"text": "thanks"}).json()["model_version"] == "m@2"


def test_shadow_mode_reports_agreement_per_head(tmp_path: Path, registry_client: Callable[..., TestClient]) -> None:
    root = tmp_path / "registry"
    _registry(root, "m@2", "m@3", live="m@2", shadow="m@3")  # m@3 says "question" where m@2 says "other"
    client = registry_client(root)
    for text in ("thanks", "thanks!", "hello there", "cancel now"):
        assert client.post("/v1/triage", json={"text": text}).status_code == 200
    client.app.state.live.shadow.wait_idle(5)  # type: ignore[attr-defined]
    view = client.get("/v1/models/shadow").json()
    assert view["shadow"] == "m@3"
    worker = view["worker"]
    assert worker["posts"] == 4 and worker["live"] == "m@2" and worker["shadow"] == "m@3"
    assert worker["heads"]["sentiment"]["agreement"] == 1.0
    assert worker["heads"]["intent"] == {"n": 4, "agree": 3, "agreement": 0.75,
                                         "top_disagreements": {"other -> question": 1}}
    assert view["all_workers"]["intent"] == {"n": 4, "agree": 3, "agreement": 0.75}
    _set(root, shadow=None)
    deadline = time.monotonic() + 5
    while client.get("/v1/models/shadow").json()["shadow"] is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_feedback_path_allows_both_methods_and_time_filters_are_bounded(client: TestClient) -> None:
    r = client.put("/v1/feedback", json={})
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"
    assert_error(client.get("/v1/feedback", params={"since": "0001-01-01T00:00:00+05:00"}), 422, "invalid_request",
                 "query.since")
    assert client.get("/v1/feedback", params={"since": "2026-01-01T00:00:00"}).status_code == 200

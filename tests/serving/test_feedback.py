"""The feedback store against a real SQLite file: validation, redaction, persistence, export."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.feedback import FeedbackStore, export_feedback
from serving.keys import make_entry
from tests.serving.conftest import EMAIL, IL_ID, PHONE, PII, PII_POST, assert_error
from triage.engine import Engine
from triage.types import Post


def _db_bytes(db: Path) -> bytes:
    # SQLite in WAL mode keeps fresh rows in the -wal file until a checkpoint: read every file.
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_feedback_is_stored_redacted_in_sqlite(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    client = make_client(database_url=f"sqlite:///{db}")
    r = client.post(
        "/v1/feedback",
        json={"post_id": "fb-1", "head": "urgency", "label": "high", "text": PII_POST,
              "note": f"התקשרתי ל-{PHONE}, {EMAIL}"},
    )
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["id"] == 1 and row["tenant"] is None and row["model_version"] == "fake-0"
    assert "[PHONE]" in row["redacted_text"] and "[EMAIL]" in row["redacted_text"] and "[IL_ID]" in row["redacted_text"]
    assert "[CARD]" in row["redacted_text"]
    assert row["note"] == "התקשרתי ל-[PHONE], [EMAIL]"
    r = client.post("/v1/feedback", json={"post_id": "tw-2", "head": "intent", "label": "churn_risk",
                                          "text": "cancel it", "model_version": "default@0.9"})
    assert r.status_code == 201
    rows = export_feedback(f"sqlite:///{db}")
    assert [(x["id"], x["post_id"], x["head"], x["label"], x["model_version"]) for x in rows] == [
        (1, "fb-1", "urgency", "high", "fake-0"),
        (2, "tw-2", "intent", "churn_risk", "default@0.9"),
    ]
    assert rows[0]["created_at"].endswith("+00:00") and rows[1]["note"] is None
    raw = _db_bytes(db)
    assert "מחכה לחבילה".encode() in raw  # the text is there...
    for secret in (*PII, IL_ID):
        assert secret.encode() not in raw  # ...without any personal data


def test_feedback_validates_head_label_and_text(client: TestClient) -> None:
    base = {"post_id": "p1", "head": "urgency", "label": "high", "text": "hi"}
    assert_error(client.post("/v1/feedback", json={**base, "head": "mood"}), 422, "unknown_head", "head")
    assert_error(client.post("/v1/feedback", json={**base, "label": "urgentish"}), 422, "unknown_label", "label")
    assert_error(client.post("/v1/feedback", json={**base, "text": " "}), 422, "empty_text", "text")
    assert_error(client.post("/v1/feedback", json={**base, "note": "x\u202ey"}), 422, "bidi_control", "note")
    assert_error(client.post("/v1/feedback", json={**base, "post_id": ""}), 422, "invalid_request", "post_id")
    assert_error(client.post("/v1/feedback", json={k: v for k, v in base.items() if k != "label"}), 422,
                 "missing_field", "label")
    assert_error(client.post("/v1/feedback", json={**base, "extra": 1}), 422, "unknown_field", "extra")


def test_feedback_records_the_tenant(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    key, entry = make_entry("acme")
    db = tmp_path / "t.db"
    client = make_client(api_keys=[entry], database_url=f"sqlite:///{db}")
    r = client.post("/v1/feedback", json={"post_id": "p", "head": "intent", "label": "praise", "text": "תודה!"},
                    headers={"x-api-key": key})
    assert r.status_code == 201 and r.json()["tenant"] == "acme"
    assert export_feedback(f"sqlite:///{db}", tenant="acme")[0]["label"] == "praise"
    assert export_feedback(f"sqlite:///{db}", tenant="globex") == []


def test_storage_failure_is_503_and_triage_still_works(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make_client(database_url=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    r = client.post("/v1/feedback", json={"post_id": "p", "head": "intent", "label": "praise", "text": "thanks"})
    assert_error(r, 503, "storage_unavailable")
    assert client.post("/v1/triage", json={"text": "thanks"}).status_code == 200


def test_store_persists_across_instances_and_concurrent_writers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    assert export_feedback(url) == []  # no table yet
    stores = [FeedbackStore(url), FeedbackStore(url)]  # like two worker processes

    def write(store: FeedbackStore, n: int) -> None:
        for i in range(10):
            store.add(post_id=f"{n}-{i}", head="intent", label="other", redacted_text="x", tenant=f"t{n}")

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    rows = export_feedback(url)
    assert len(rows) == 20 and sorted(r["id"] for r in rows) == list(range(1, 21))
    assert {r["tenant"] for r in rows} == {"t0", "t1"}


def test_redaction_matches_the_engines(shared_engine: Engine) -> None:
    assert shared_engine.redact(PII_POST) == shared_engine.triage(Post(text=PII_POST)).redacted_text


@pytest.mark.parametrize("url", ["sqlite:///:memory:"])
def test_export_of_an_empty_database(url: str) -> None:
    assert export_feedback(url) == []

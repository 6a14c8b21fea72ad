"""Shadow scoring off the request path, and the audit entries of automated actions and model changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from learning.audit import AuditQueue, action_entries, record_model_event
from learning.shadow import ShadowScorer
from store.poststore import PostStore
from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.schema import LabelSchema
from triage.types import Post, RoutingDecision, TriageResult


def _results(engine: Engine, texts: list[str]) -> list[TriageResult]:
    return [engine.triage(Post(text=t, id=f"p{i}")) for i, t in enumerate(texts)]


def test_the_shadow_counts_agreement_drops_when_full_and_survives_failures(default_schema: LabelSchema) -> None:
    live = Engine(FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK, version="live@1"))
    candidate = FakeClassifier(default_schema, rules=FAKE_RULES, fallback={**FAKE_FALLBACK, "intent": "question"},
                               version="cand@2")
    compared: list[tuple[str, bool]] = []
    shadow = ShadowScorer(candidate, "live@1", on_compare=lambda h, a: compared.append((h, a)))
    shadow.submit(_results(live, ["thanks", "hello", "cancel now"]))
    assert shadow.wait_idle(5)
    snap = shadow.snapshot()
    assert (snap["live"], snap["shadow"], snap["posts"], snap["dropped"]) == ("live@1", "cand@2", 3, 0)
    intent = snap["heads"]["intent"]
    assert intent["agree"] == 2 and intent["top_disagreements"] == {"other -> question": 1}
    assert ("intent", False) in compared and len(compared) == 9
    shadow.reset("live@2")
    assert shadow.snapshot()["posts"] == 0 and shadow.snapshot()["live"] == "live@2"
    shadow.stop()

    class Broken(FakeClassifier):
        def predict(self, texts: Any) -> Any:
            raise RuntimeError("boom")

    broken = ShadowScorer(Broken(default_schema, version="b@1"), "live@1", queue_size=2)
    broken.submit(_results(live, ["a", "b", "c", "d", "e"]))
    assert broken.wait_idle(5)
    snap = broken.snapshot()
    assert snap["failed"] + snap["dropped"] == 5 and snap["dropped"] >= 1 and snap["posts"] == 0
    sampled = ShadowScorer(candidate, "live@1", sample=0.0)
    sampled.submit(_results(live, ["thanks"]))
    assert sampled.wait_idle(5) and sampled.snapshot()["posts"] == 0


def test_automated_actions_become_redacted_audit_entries(tmp_path: Path, default_schema: LabelSchema) -> None:
    engine = Engine(FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK))
    result = engine.triage(Post(text="spam from 052-3456789", id="tw-1"))
    routing = RoutingDecision(brand="acme", queue="spam", priority="P4", rule="spam",
                              first_response_due=datetime(2026, 1, 1, tzinfo=UTC), sla_minutes=60,
                              around_the_clock=False, reply_mode="public",
                              actions=["hide", "like", "reply"], needs_human=False, reasons=["call 052-3456789"])
    entries = action_entries([result.model_copy(update={"routing": routing}), result])
    assert [(e["action"], e["subject"], e["actor"]) for e in entries] == [("hide", "tw-1", "triage"),
                                                                         ("like", "tw-1", "triage")]
    assert "052-3456789" not in entries[0]["reason"] and "[PHONE]" in entries[0]["reason"]
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = PostStore(url, identity_key=None)
    queue = AuditQueue(store)
    queue.submit(entries)
    assert queue.flush(5) and queue.written == 2
    queue.stop()
    event = record_model_event("promoted", actor="ops", model_version="m@2", reason="passed; 054-1234567", url=url)
    assert event is not None and event["reason"] == "passed; [PHONE]"
    assert [e.action for e in store.audit_log()] == ["hide", "like", "promoted"]
    store.close()
    assert record_model_event("promoted", actor="ops", model_version="m", reason="x",
                              url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}") is None

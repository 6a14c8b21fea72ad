"""The corrections table: whole decisions, filters and pages, and an upgrade of an older table in place."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from learning.feedback import FeedbackQuery, FeedbackStore, check_correction, export_feedback, kind_of
from triage.errors import InputError
from triage.schema import LabelSchema


def test_corrections_are_checked_and_normalised(default_schema: LabelSchema) -> None:
    assert check_correction(default_schema, "intent", "complaint") == "complaint"
    assert check_correction(default_schema, "actions", "reply, escalate") == "escalate+reply"
    assert check_correction(default_schema, "reply_mode", "private") == "private"
    assert check_correction(default_schema, "queue", "billing.he") == "billing.he"
    assert check_correction(default_schema, "reply", "rejected") == "rejected"
    for head, label in [("intent", "angry"), ("actions", "none+hide"), ("actions", "delete"), ("queue", "a b"),
                        ("reply_mode", "dm"), ("reply", "ignored"), ("mood", "x")]:
        with pytest.raises(InputError):
            check_correction(default_schema, head, label)
    assert [kind_of(h) for h in ("intent", "queue", "reply_mode", "actions", "reply")] == [
        "label", "routing", "routing", "action", "reply"]


def test_filters_and_pages(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    t0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
    rows = [dict(post_id=f"p{i % 3}", head="intent" if i % 2 else "queue", label="praise" if i % 2 else "care",
                 redacted_text="thanks", actor=f"agent-{i % 2}", tenant="acme", created_at=t0 + timedelta(hours=i))
            for i in range(7)]
    stored = store.add_many(rows)
    assert [r["id"] for r in stored] == list(range(1, 8)) and stored[1]["kind"] == "label"
    assert stored[0]["created_at"] == "2026-05-01T12:00:00+00:00"
    page, cursor = store.page(FeedbackQuery(), limit=3)
    assert [r["id"] for r in page] == [1, 2, 3] and cursor == 3
    page, cursor = store.page(FeedbackQuery(), limit=3, after=6)
    assert [r["id"] for r in page] == [7] and cursor is None
    assert [r["id"] for r in store.export(query=FeedbackQuery(kind="routing", actor="agent-0"))] == [1, 3, 5, 7]
    local = datetime(2026, 5, 1, 17, tzinfo=UTC).astimezone(tz=__import__("zoneinfo").ZoneInfo("Asia/Jerusalem"))
    assert [r["id"] for r in store.export(query=FeedbackQuery(since=local))] == [6, 7]  # any offset, compared in UTC
    assert [r["id"] for r in store.export(query=FeedbackQuery(until=t0 + timedelta(hours=1)))] == [1]
    assert store.corrected_post_ids() == {"p0", "p1", "p2"} and store.corrected_post_ids("globex") == set()
    store.close()


def test_an_older_table_gets_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, post_id VARCHAR(200), head VARCHAR(64), "
                "label VARCHAR(80), note TEXT, redacted_text TEXT, model_version VARCHAR(200), tenant VARCHAR(64), "
                "created_at DATETIME)")
    con.execute("INSERT INTO feedback (post_id, head, label, redacted_text, created_at) "
                "VALUES ('p', 'intent', 'praise', 'thanks', '2026-01-01 00:00:00.000000')")
    con.commit()
    con.close()
    url = f"sqlite:///{db}"
    store = FeedbackStore(url)
    store.add(post_id="q", head="actions", label="hide", redacted_text="spam", actor="agent-1")
    rows = export_feedback(url)
    assert [(r["head"], r["kind"], r["actor"], r["source"]) for r in rows] == [
        ("intent", "label", None, "api"), ("actions", "action", "agent-1", "api")]
    assert [r["id"] for r in store.export(query=FeedbackQuery(kind="label"))] == [1]
    store.close()

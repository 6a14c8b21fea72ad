"""`triage classify`: stdin, files of posts (text lines or JSON Lines), the summary view, author / time /
thread / reply options, and load time kept out of the posts' timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage_cli import _register, app

_register()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _setup(isolated_home: Path, fast_model: None) -> None:
    """Every test here runs with the fake model and a throw-away project home."""


def test_dash_reads_the_post_from_stdin() -> None:
    result = runner.invoke(app, ["classify", "-"], input="Charged twice this month. Again.\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["normalised_text"] == "Charged twice this month. Again."      # not the text "-"
    assert data["routing"]["queue"] == "billing"


def test_file_with_one_post_per_line(tmp_path: Path) -> None:
    posts = tmp_path / "posts.txt"
    posts.write_text("Charged twice this month\n\nthanks a lot!\nמצאתי זכוכית בסלט\n", encoding="utf-8")
    result = runner.invoke(app, ["classify", "--file", str(posts)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["post_id"] for r in rows] == ["1", "3", "4"]                    # line numbers; blank lines skipped
    assert [r["labels"]["intent"] for r in rows] == ["complaint", "praise", "complaint"]
    assert rows[2]["routing"]["queue"] == "crisis"


def test_jsonl_file_with_post_fields(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    rows = [
        {"id": "a1", "text": "Charged twice this month", "channel": "whatsapp",
         "author": {"first_name": "Dana"}, "created_at": "2026-09-15T09:00:00+03:00"},
        {"id": "a2", "text": "Charged twice this month", "brand": "northwind"},
    ]
    posts.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["classify", "--file", str(posts), "--channel", "twitter"])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["post_id"] for o in out] == ["a1", "a2"]
    assert out[0]["routing"]["reply_mode"] == "private"                       # its own channel: whatsapp
    assert out[0]["suggested_replies"][0]["text"].startswith("Hi Dana")
    # P2 (billing complaints) on WhatsApp: the SLA of urgency high there, 60 open minutes from when it was written.
    assert out[0]["routing"]["first_response_due"].startswith("2026-09-15T10:00")
    assert out[1]["routing"]["brand"] == "northwind"


def test_bad_jsonl_line_names_its_line(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"text": "ok"}\n{"text": "x", "channel": "whatsap"}\n', encoding="utf-8")
    result = runner.invoke(app, ["classify", "--file", str(posts)])
    assert result.exit_code == 2
    assert f"{posts}:2: channel: Input should be" in result.stderr and "Traceback" not in result.output


def test_summary_is_one_line_per_post(tmp_path: Path) -> None:
    posts = tmp_path / "posts.txt"
    posts.write_text("Charged twice, call me 052-3456789\nFollow me for free crypto\n", encoding="utf-8")
    result = runner.invoke(app, ["classify", "--file", str(posts), "--format", "summary"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("#1  en  complaint/negative/normal  -> billing P2 private")
    assert "reply=complaint-billing-en" in lines[0] and "[PHONE]" in lines[0] and "3456789" not in lines[0]
    assert "HIDE" in lines[1] and "reply=-" in lines[1]


def test_author_time_thread_and_reply_options() -> None:
    result = runner.invoke(app, [
        "classify", "Charged twice for order 4471902", "--author", "first_name=Dana,handle=@dana",
        "--created-at", "2026-09-15T10:00:00+03:00", "--thread", "brand: Sorry, we're checking",
        "--thread", "still nothing?", "--agent-name", "Noa", "--eta", "by 4 pm today", "--id", "p-7",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["post_id"] == "p-7"
    reply = data["suggested_replies"][0]["text"]
    assert reply.startswith("Hi Dana,") and "by 4 pm today" in reply and "Noa" in reply, reply
    # P2 on Facebook: the SLA of urgency high (30 open minutes) from when the post was written.
    assert data["routing"]["first_response_due"].startswith("2026-09-15T10:30")


@pytest.mark.parametrize(("args", "words"), [
    (["--created-at", "2026-02-30"], "not an ISO 8601 time"),
    (["--author", "nickname=x"], "expected NAME or name=/first_name=/handle= pairs"),
    (["--gender", "x"], "Invalid value for '--gender'"),
    (["--format", "xml"], "Invalid value for '--format'"),
    (["--channel", "whatsap"], "'whatsap' is not one of"),
])
def test_bad_options_are_one_line_before_any_model_loads(args: list[str], words: str) -> None:
    result = runner.invoke(app, ["classify", "hello", *args])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr


def test_text_and_file_are_exclusive(tmp_path: Path) -> None:
    result = runner.invoke(app, ["classify", "hello", "--file", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "give the post's text" in result.stderr


def test_load_time_is_reported_apart_from_the_posts_timings() -> None:
    result = runner.invoke(app, ["classify", "שבועיים מחכה לחבילה"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("load_ms=")
    timings = json.loads(result.stdout)["timings_ms"]
    # The entity stage (spaCy) and the language detector were warmed at load: no cold start here.
    assert timings["entities"] < 100 and timings["language"] < 100, timings


def test_entities_reads_stdin() -> None:
    result = runner.invoke(app, ["entities", "-"], input="טלפון 052-3456789")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["redacted_text"] == "טלפון [PHONE]"

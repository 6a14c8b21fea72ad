"""``triage store``: migrate, stats, show, purge, retention, audit; one-line errors with exit 2."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from store import PostStore
from tests.store.conftest import KEY, T0, triage_and_save
from triage.engine import Engine
from triage_cli import _register, app

_register()
runner = CliRunner()


@pytest.fixture()
def url(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRIAGE_IDENTITY_KEY", KEY.secret.decode())
    monkeypatch.delenv("TRIAGE_STORE_URL", raising=False)
    return f"sqlite:///{db_path}"


def _run(*args: str):
    return runner.invoke(app, ["store", *args])


def _one_line_error(result, code: str) -> None:
    assert result.exit_code == 2, result.output
    assert f"error [{code}]" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_migrate_then_stats(url: str) -> None:
    result = _run("migrate", "--url", url)
    assert result.exit_code == 0 and "at revision 0002" in result.stdout
    stats = json.loads(_run("stats", "--url", url).stdout)
    assert stats["revision"] == "0002" and stats["posts"] == {} and stats["identity_key"] is True


def test_the_url_comes_from_the_environment(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_STORE_URL", f"sqlite:///{db_path}")
    assert _run("migrate").exit_code == 0 and db_path.exists()


def test_show_prints_the_redacted_post_and_its_events(url: str, store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "call me 052-3456789", post_id="p1")
    store.add_event("p1", "assigned", "router")
    result = _run("show", "p1", "--url", url)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["post"]["redacted_text"] == "call me [PHONE]" and shown["events"][0]["kind"] == "assigned"
    _one_line_error(_run("show", "nope", "--url", url), "unknown_post")


def test_purge_and_its_bad_inputs(url: str, store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "hello", post_id="p1", handle="dana")
    triage_and_save(store, engine, "hello", post_id="p2", handle="other", customer_id="CRM-2")
    _one_line_error(_run("purge", "--url", url), "invalid_purge")
    _one_line_error(_run("purge", "--customer", "x", "--handle", "y", "--url", url), "invalid_purge")
    _one_line_error(_run("purge", "--handle", "dana", "--url", url), "invalid_purge")
    _one_line_error(_run("purge", "--channel", "myspace", "--handle", "dana", "--url", url), "unknown_channel")
    result = _run("purge", "--channel", "facebook", "--handle", "@DANA", "--url", url)
    assert result.exit_code == 0 and json.loads(result.stdout)["posts"] == 1
    result = _run("purge", "--customer", "CRM-2", "--url", url)
    assert result.exit_code == 0 and json.loads(result.stdout)["posts"] == 1
    assert json.loads(_run("stats", "--url", url).stdout)["posts"] == {}


def test_retention_with_dry_run(url: str, store: PostStore, engine: Engine) -> None:
    triage_and_save(store, engine, "old", post_id="old", when=T0 - timedelta(days=400))
    result = _run("retention", "--brand", "acme", "--days", "30", "--dry-run", "--url", url)
    assert result.exit_code == 0 and json.loads(result.stdout)["posts"] == 1
    assert store.get_post("old") is not None
    result = _run("retention", "--brand", "acme", "--days", "30", "--url", url)
    assert result.exit_code == 0 and store.get_post("old") is None
    _one_line_error(_run("retention", "--brand", "acme", "--days", "0", "--url", url), "invalid_retention")


def test_audit_lists_entries_since_a_date(url: str, store: PostStore) -> None:
    store.audit("ops", "model_change", "fake-0 -> fake-1", at=T0)
    store.audit("triage", "hide", "spam link", at=T0 + timedelta(days=2))
    lines = _run("audit", "--url", url).stdout.splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["model_change", "hide"]
    later = _run("audit", "--since", (T0 + timedelta(days=1)).date().isoformat(), "--url", url).stdout
    assert [json.loads(line)["action"] for line in later.splitlines()] == ["hide"]
    _one_line_error(_run("audit", "--since", "last tuesday", "--url", url), "invalid_since")


def test_a_bad_url_is_one_line(tmp_path: Path) -> None:
    _one_line_error(_run("stats", "--url", "not a url"), "invalid_store_url")
    _one_line_error(_run("stats", "--url", "nosuchdb://x"), "invalid_store_url")


def test_a_database_failure_is_one_line_with_exit_1(tmp_path: Path) -> None:
    result = _run("stats", "--url", f"sqlite:///{tmp_path}/missing/dir/store.db")
    assert result.exit_code == 1 and result.stderr.startswith("error [database]")
    assert len(result.stderr.strip().splitlines()) == 1

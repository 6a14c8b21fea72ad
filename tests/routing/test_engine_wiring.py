"""load_engine builds routing and replies for the brands of the classifier's schema; the engine uses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.classify.fake import FakeClassifier
from triage.errors import ConfigError, InputError
from triage.loading import load_engine
from triage.schema import load_schema
from triage.types import Author, Post

from .support import MINIMAL_POLICY, ROOT, at, write

NOW = at(2026, 9, 15, 12)


def test_engine_routes_and_replies_for_the_default_brand(fake_classifier: FakeClassifier) -> None:
    engine = load_engine(classifier=fake_classifier)
    result = engine.triage(Post(text="שבועיים מחכה לחבילה ואף אחד לא עונה, הזמנה 4471902",
                                author=Author(first_name="דנה")), now=NOW)
    d = result.routing
    assert d is not None and (d.brand, d.queue, d.rule, d.reply_mode) == ("default", "care", "complaints", "private")
    assert d.reasons[0] == "intent=complaint (p=0.90) matched rule 'complaints'"
    assert result.suggested_replies and result.suggested_replies[0].template_id == "complaint-private-he"
    first = result.suggested_replies[0]
    assert "4471902" in first.text and "דנה" in first.text and first.missing_placeholders == ["eta"]
    assert {"route", "replies"} <= set(result.timings_ms)


def test_engine_routes_each_post_by_its_brand(fake_classifier: FakeClassifier) -> None:
    engine = load_engine(classifier=fake_classifier)
    posts = [Post(text="Charged twice this month", brand="northwind"), Post(text="Charged twice this month")]
    nw, default = engine.triage_batch(posts, now=NOW)
    assert nw.routing is not None and nw.routing.brand == "northwind" and nw.routing.queue == "accounts"
    assert default.routing is not None and default.routing.queue == "billing"
    assert nw.suggested_replies and all(r.template_id.startswith("nw-") for r in nw.suggested_replies)
    with pytest.raises(InputError) as err:
        engine.triage(Post(text="hello", brand="acme"), now=NOW)
    assert err.value.code == "unknown_brand"


def test_a_schema_without_policies_runs_without_routing() -> None:
    banking = load_schema(ROOT / "data" / "schemas" / "banking77.yaml")
    engine = load_engine(classifier=FakeClassifier(banking))
    result = engine.triage(Post(text="my card was declined"), now=NOW)
    assert engine.router is None and result.routing is None and result.suggested_replies == []
    with pytest.raises(ConfigError) as err:
        load_engine(classifier=FakeClassifier(banking), brand="default")
    assert err.value.code == "unknown_brand"


def test_explicit_brand_and_custom_folders(tmp_path: Path, fake_classifier: FakeClassifier) -> None:
    write(tmp_path / "policies" / "acme.yaml", MINIMAL_POLICY)
    engine = load_engine(classifier=fake_classifier, brand="acme", policies_dir=tmp_path / "policies",
                         replies_dir=tmp_path / "replies")
    result = engine.triage(Post(text="charged twice"), now=NOW)
    assert result.routing is not None and result.routing.brand == "acme" and result.routing.queue == "mod"
    assert result.suggested_replies == []            # acme has no reply library
    # A single brand that is not called "default" is the default.
    engine = load_engine(classifier=fake_classifier, policies_dir=tmp_path / "policies",
                         replies_dir=tmp_path / "replies")
    assert engine.triage(Post(text="x"), now=NOW).routing.brand == "acme"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="unknown brand 'zeta'"):
        load_engine(classifier=fake_classifier, brand="zeta", policies_dir=tmp_path / "policies")


def test_a_broken_policy_stops_the_engine_at_load(tmp_path: Path, fake_classifier: FakeClassifier) -> None:
    write(tmp_path / "policies" / "acme.yaml", MINIMAL_POLICY.replace("intent: complaint", "intent: complant"))
    with pytest.raises(ConfigError, match=r"acme\.yaml:\d+: rules\[0\]\.when\.intent: unknown label 'complant'"):
        load_engine(classifier=fake_classifier, policies_dir=tmp_path / "policies")
    write(tmp_path / "other" / "zeta.yaml", MINIMAL_POLICY)
    with pytest.raises(ConfigError, match="brand 'acme' must be named like its file"):
        load_engine(classifier=fake_classifier, policies_dir=tmp_path / "other")


def test_routing_can_be_switched_off(fake_classifier: FakeClassifier) -> None:
    engine = load_engine(classifier=fake_classifier, routing=False)
    assert engine.router is None and engine.replier is None


def test_template_examples_are_embedded_once_at_load(fake_classifier: FakeClassifier, monkeypatch) -> None:
    calls: list[int] = []
    original = fake_classifier.embed

    def counting(texts):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return original(texts)

    monkeypatch.setattr(fake_classifier, "embed", counting)
    engine = load_engine(classifier=fake_classifier)
    n = len(calls)
    assert n == 2                                     # one batch per library (default, northwind)
    engine.triage_batch([Post(text="תודה רבה!"), Post(text="thanks a lot")], now=NOW)
    assert len(calls) == n + 1                       # only the engine's own predict embeds the posts


def test_cli_classify_prints_routing_and_replies(monkeypatch, fake_classifier: FakeClassifier) -> None:
    """`triage classify` with the default brand (the model is replaced by the fake for the test)."""
    import json

    from typer.testing import CliRunner

    import triage.loading
    from triage_cli import _register, app

    _register()
    monkeypatch.setattr(triage.loading, "load_classifier", lambda *a, **k: fake_classifier)
    runner = CliRunner()
    result = runner.invoke(app, ["classify", "Charged twice this month. call me 052-3456789"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    routing = data["routing"]
    assert (routing["brand"], routing["queue"], routing["reply_mode"]) == ("default", "billing", "private")
    assert routing["reasons"][0] == "intent=complaint (p=0.90), keyword 'charged' matched rule 'billing-complaints'"
    assert data["suggested_replies"][0]["template_id"] == "complaint-billing-en"
    nw = runner.invoke(app, ["classify", "Charged twice this month", "--brand", "northwind"])
    assert nw.exit_code == 0 and json.loads(nw.stdout)["routing"]["queue"] == "accounts"
    bad = runner.invoke(app, ["classify", "hello", "--brand", "acme"])
    assert bad.exit_code == 2 and "unknown_brand" in bad.stderr

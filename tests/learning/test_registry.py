"""The registry: add (verified, idempotent), the promotion gate, rollback as a stack, shadow, listing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from learning.registry import Registry, gate
from triage.errors import InputError, ModelArtifactError


def _passed(current: str | None, passed: bool = True) -> dict:
    return {"current": current, "passed": passed, "regressions": [] if passed else ["real_test/intent: -0.05"]}


def test_models_are_copied_verified_and_registered_once(tmp_path: Path, make_model_dir: Callable[..., Path]) -> None:
    reg = Registry(tmp_path / "reg")
    src = make_model_dir("m", "1")
    entry = reg.add(src, parent="m@0")
    assert entry["path"] == "models/m@1" and entry["parent"] == "m@0"
    assert (reg.root / "models" / "m@1" / "manifest.json").is_file()
    assert reg.add(src) == entry  # the same files again: nothing changes
    other = make_model_dir("m", "1", payload="different")
    with pytest.raises(InputError, match="already registered"):
        reg.add(other)
    (src / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelArtifactError):
        Registry(tmp_path / "reg2").add(src)


def test_promotion_needs_a_passing_comparison_against_the_live_model(
    tmp_path: Path, make_model_dir: Callable[..., Path]
) -> None:
    reg = Registry(tmp_path / "reg")
    for v in ("1", "2", "3"):
        reg.add(make_model_dir("m", v))
    assert reg.promote("m@1", actor="ops")["previous"] is None  # the first model: nothing to compare with
    with pytest.raises(InputError, match="never compared"):
        reg.promote("m@2", actor="ops")
    reg.record_compare("m@2", _passed("m@1", passed=False))
    with pytest.raises(InputError, match="regressed beyond the margin"):
        reg.promote("m@2", actor="ops")
    with pytest.raises(InputError, match="needs a --reason"):
        reg.promote("m@2", actor="ops", force=True)
    reg.record_compare("m@2", _passed("m@1"))
    event = reg.promote("m@2", actor="ops", reason="better on corrections")
    assert (event["live"], event["previous"], event["forced"]) == ("m@2", "m@1", False)
    reg.record_compare("m@3", _passed("m@1"))  # compared with a model that is no longer live
    with pytest.raises(InputError, match="but m@2 is live now"):
        reg.promote("m@3", actor="ops")
    assert reg.promote("m@3", actor="ops", force=True, reason="incident 42")["forced"] is True
    with pytest.raises(InputError, match="already live"):
        reg.promote("m@3", actor="ops", force=True, reason="x")


def test_rollback_walks_back_through_the_promotions(tmp_path: Path, make_model_dir: Callable[..., Path]) -> None:
    reg = Registry(tmp_path / "reg")
    for v in ("1", "2", "3"):
        reg.add(make_model_dir("m", v))
        reg.promote(f"m@{v}", actor="ops", force=True, reason="test")
    assert reg.resolve("previous") == "m@2"
    assert reg.rollback(actor="ops")["live"] == "m@2"
    assert reg.rollback(actor="ops")["live"] == "m@1"  # not back to m@3
    with pytest.raises(InputError, match="no earlier live model"):
        reg.rollback(actor="ops")
    statuses = {m["model"]: m["status"] for m in reg.listing()}
    assert statuses == {"m@1": "live", "m@2": "candidate", "m@3": "candidate"}
    assert reg.live_dir() == reg.root / "models" / "m@1"


def test_resolve_shadow_and_an_atomic_json(tmp_path: Path, make_model_dir: Callable[..., Path]) -> None:
    reg = Registry(tmp_path / "reg")
    with pytest.raises(InputError, match="no model is live"):
        reg.resolve("live")
    reg.add(make_model_dir("m", "1"))
    reg.add(make_model_dir("m", "2.ft1"))
    reg.promote("m@1", actor="ops")
    assert reg.resolve("2.ft1") == "m@2.ft1" and reg.resolve("live") == "m@1"
    with pytest.raises(InputError, match=r"models: m@1, m@2\.ft1"):
        reg.resolve("m@9")
    with pytest.raises(InputError, match="is live"):
        reg.set_shadow("m@1", actor="ops")
    reg.set_shadow("m@2.ft1", actor="ops")
    assert reg.shadow() == "m@2.ft1" and {m["model"]: m["status"] for m in reg.listing()}["m@2.ft1"] == "shadow"
    reg.record_compare("m@2.ft1", _passed("m@1"))
    reg.promote("m@2.ft1", actor="ops")
    assert reg.shadow() is None  # the shadowed candidate went live
    data = json.loads(reg.file.read_text(encoding="utf-8"))
    assert data["live"] == "m@2.ft1" and [e["action"] for e in data["history"]] == ["promote", "promote"]
    assert not list(reg.root.glob(".registry-*"))  # no temporary file left behind


def test_gate_messages() -> None:
    assert gate(None, None) is None
    assert "never compared" in str(gate(None, "m@1"))
    assert gate(_passed("m@1"), "m@1") is None

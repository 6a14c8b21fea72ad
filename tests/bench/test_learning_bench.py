"""Smoke run of the active-learning benchmark (a tiny random model, a slice of data/real, a temp folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import require_shared


@pytest.mark.slow
def test_active_learning_benchmark_smoke(tmp_path: Path) -> None:
    require_shared()
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    from bench.common import load_corpus_posts
    from bench.learning import run
    from bench.speed.torch_baseline import build_tiny_artifact

    texts, _ = load_corpus_posts()
    model = build_tiny_artifact(tmp_path / "model", texts[:500])
    monkey_cache = tmp_path / "cache"
    run.CACHE = monkey_cache  # never the committed runs/ cache
    result = run.main(["--smoke", "--model", str(model), "--out", str(tmp_path / "out")])
    assert set(result["curves"]) == {"random", "active", "uncertainty"}
    assert [p["labels"] for p in result["curves"]["active"]] == [20, 40, 60]
    data = json.loads((tmp_path / "out" / "active_learning.json").read_text(encoding="utf-8"))
    assert data["splits"] == ["dev", "test"] and data["header"]["smoke"] is True
    assert (tmp_path / "out" / "active_learning.png").stat().st_size > 1000
    assert "Labels needed to reach a target" in (tmp_path / "out" / "active_learning.md").read_text(encoding="utf-8")

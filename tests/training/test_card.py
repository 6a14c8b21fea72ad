"""Model card helpers: what the Limitations section says is derived from the recipe and the measured metrics."""

from __future__ import annotations

from pathlib import Path

from training.card import _missed_targets, _public_data_line
from training.config import SourceConfig, Target, TrainConfig


def _test_metrics(value: float) -> dict:
    m = {"n": 100, "accuracy": value, "macro_f1": value, "per_class": {}}
    return {"he_fb": {"model": {"sentiment": {"all": m, "by_language": {}}}}}


def test_missed_targets_name_the_metric_value_and_n() -> None:
    targets = [Target(source="he_fb", head="sentiment", metric="macro_f1", min=0.8)]
    assert _missed_targets(_test_metrics(0.9), targets) == []
    (line,) = _missed_targets(_test_metrics(0.62), targets)
    assert "he_fb sentiment macro_f1 (all): 0.620 < 0.80, n = 100" in line


def test_public_data_line_follows_the_recipe_sources() -> None:
    def config(*kinds: str) -> TrainConfig:
        sources = [SourceConfig(name=f"s{i}", kind=k, path=Path("x")) for i, k in enumerate(kinds)]  # type: ignore[arg-type]
        return TrainConfig(name="t", schema=Path("s.yaml"), sources=sources)

    assert _public_data_line(config("corpus")) == []
    (line,) = _public_data_line(config("corpus", "banking77"))
    assert "banking77 (CC BY 4.0)" in line and "he-sentiment" not in line

"""Export with real labels in the recipe: the real test split is scored (runtime and engine), metrics.json
holds it, the card leads with it, thresholds come from real dev, and a second export into the same folder
compares with the model it replaces. A tiny random model: its numbers mean nothing, the plumbing does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")

from typer.testing import CliRunner  # noqa: E402

from tests.conftest import require_shared  # noqa: E402
from triage.artifact import metrics_summary  # noqa: E402
from triage_cli import _register, app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
_register()


@pytest.mark.slow
def test_export_scores_the_real_test_split_and_compares_with_the_model_it_replaces(tmp_path: Path) -> None:
    datasets = require_shared()
    data_dir = ROOT / "data"
    if not (data_dir / "real" / "sample.jsonl").is_file() or not (data_dir / "corpus" / "train.jsonl").is_file():
        pytest.skip("needs data/real and data/corpus")
    raw = yaml.safe_load((ROOT / "training" / "configs" / "tiny.yaml").read_text(encoding="utf-8"))
    raw["sources"].insert(0, {"name": "real", "kind": "real_labels", "path": "data/real", "texts": str(datasets),
                              "limit": 40})
    raw["distill"] = {"enabled": False}
    raw["optim"]["epochs"] = 1
    raw["calibration"]["sources"] = ["real"]
    raw["export"].update({"int8": False, "targets": [
        {"source": "real", "head": "intent", "metric": "accuracy", "min": 0.85, "languages": ["he", "en"]}]})
    config = tmp_path / "real.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    model = tmp_path / "model"
    for _ in range(2):  # the second export replaces the first and compares with it
        result = runner.invoke(app, ["export", str(tmp_path / "run"), str(model)])
        assert result.exit_code == 0, result.output
    assert "real test he/intent" in result.output and "silent errors" in result.output

    metrics = json.loads((model / "metrics.json").read_text(encoding="utf-8"))
    real = metrics["real"]
    assert real["split"] == "test" and set(real["n_by_language"]) <= {"he", "en"}
    assert "macro_f1_frequent" in real["model"]["intent"]["all"]
    assert real["silent"]["all"]["decided_by"].startswith("engine routing")
    assert "real" not in metrics["test"]  # reported once, in its own section
    assert metrics["previous"]["test"]["corpus"]["model"]["intent"]["all"]["macro_f1"] == pytest.approx(
        metrics["test"]["corpus"]["model"]["intent"]["all"]["macro_f1"])
    assert all(c["dev_sources"] == ["real"] for c in metrics["calibration"].values())
    assert metrics["onnx"]["runtime_kernels"]["ops"]
    summary = metrics_summary(model)
    assert summary is not None and "silent_error_rate_all" in summary["real_test"]

    card = (model / "README.md").read_text(encoding="utf-8")
    assert card.index("## Real text") < card.index("## Written test split") < card.index("## Model")
    assert "| written intent macro-F1 drop vs previous model | all |" in card and "0.00 | ≤ 2.00 points | yes |" in card
    assert "Kernels and quantisation" in card

"""training.export.choose_weights: which ONNX candidate ships, and what the export records about the others."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")

from tests.training.test_model import HEADS, tiny_model  # noqa: E402
from training.config import ExportConfig  # noqa: E402
from training.export import BATCH_INVARIANCE_LIMIT, Candidate, choose_weights, export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("choose") / "m.onnx"
    export_onnx(tiny_model().eval(), [h.name for h in HEADS if not h.auxiliary], path)
    return path


class _Recipe:
    """The one part of a recipe choose_weights reads."""

    def __init__(self, **export: float) -> None:
        self.export = ExportConfig(max_int8_drop_points=1.0, max_int8_compute_drop_points=0.5, **export)


def _candidate(path: Path, intent: float, sentiment: float, variance: float = 1e-7, size: int = 100) -> Candidate:
    dev = {"real": {"intent": {"macro_f1": intent}, "sentiment": {"macro_f1": sentiment}},
           "corpus": {"intent": {"macro_f1": 0.9}}}
    return Candidate(path, dev, {}, size, variance)


def _choose(path: Path, static_intent: float, static_variance: float = 1e-7) -> tuple[str, dict]:
    candidates = {"fp32": _candidate(path, 0.80, 0.80, size=400), "int8": _candidate(path, 0.79, 0.80, size=100),
                  "int8_static": _candidate(path, static_intent, 0.80, static_variance, size=101)}
    info = {"int8_static_quantised": {"matmul_int8_compute": 60}, "int8_static_calibration_posts": 512}
    return choose_weights(candidates, info, _Recipe()), info


def test_static_int8_ships_when_within_its_limit_and_batch_invariant(onnx_file: Path) -> None:
    # Intent drops 0.8 points on "real", 0 on "corpus": 0.4 per head on average (the gate's unit).
    chosen, info = _choose(onnx_file, static_intent=0.792)
    assert chosen == "int8_static" and info["weights"] == "int8_static" and info["bytes"] == 101
    assert info["int8_static_max_dev_drop_points"] == pytest.approx(0.4, abs=1e-6)
    assert info["int8_max_dev_drop_points"] == pytest.approx(0.5, abs=1e-6)
    assert "SmoothQuant" in info["int8_scheme"] and "512 real training posts" in info["int8_scheme"]
    assert info["int8_quantised"] == {"matmul_int8_compute": 60}
    assert info["runtime_kernels"]["ops"]


def test_static_int8_over_its_limit_falls_back_to_int8_weights(onnx_file: Path) -> None:
    chosen, info = _choose(onnx_file, static_intent=0.788)  # 0.6 points per head
    assert chosen == "int8" and info["bytes"] == 100
    assert info["int8_static_max_dev_drop_points"] == pytest.approx(0.6, abs=1e-6)
    assert "int8_scheme" not in info or "SmoothQuant" not in info["int8_scheme"]


def test_static_int8_whose_scores_move_with_the_batch_is_not_shipped(onnx_file: Path) -> None:
    chosen, info = _choose(onnx_file, static_intent=0.80, static_variance=10 * BATCH_INVARIANCE_LIMIT)
    assert chosen == "int8"
    assert info["int8_static_batch_vs_single_max_abs_diff"] == 10 * BATCH_INVARIANCE_LIMIT


def test_without_an_int8_candidate_fp32_ships(onnx_file: Path) -> None:
    info: dict = {}
    assert choose_weights({"fp32": _candidate(onnx_file, 0.8, 0.8)}, info, _Recipe()) == "fp32"
    assert info["weights"] == "fp32" and "int8_max_dev_drop_points" not in info

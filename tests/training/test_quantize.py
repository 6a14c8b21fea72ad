"""training.quantize on a tiny in-process network: static int8 compute, SmoothQuant, weights-only int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")
ort = pytest.importorskip("onnxruntime")

from tests.training.test_model import HEADS, VOCAB, tiny_model  # noqa: E402
from training.export import export_onnx, output_names  # noqa: E402
from training.quantize import (  # noqa: E402
    calibration_sample,
    count_static_matmuls,
    float_matmuls,
    quantize_int8,
    quantize_static_int8,
    smooth_activations,
)

PUBLIC = [h.name for h in HEADS if not h.auxiliary]
# The tiny encoder's matrices hold 1,024 (32 x 32) or 2,048 (32 x 64) numbers, its heads 96: quantise the former.
MIN_ELEMENTS = 512


def _rows(n: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[0, *rng.integers(4, VOCAB, int(rng.integers(3, 20))).tolist(), 2] for _ in range(n)]


def _run(path: Path, rows: list[list[int]]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    width = max(len(r) for r in rows)
    ids = np.ones((len(rows), width), np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    return session.run(output_names(PUBLIC), {"input_ids": ids, "attention_mask": mask})


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("quantize") / "fp32.onnx"
    export_onnx(tiny_model(seed=3).eval(), PUBLIC, path)
    return path


@pytest.fixture(scope="module")
def static(fp32: Path) -> tuple[Path, dict[str, int]]:
    path = fp32.with_name("static.onnx")
    return path, quantize_static_int8(fp32, path, _rows(40, seed=1), min_elements=MIN_ELEMENTS)


def test_static_int8_computes_the_encoder_in_int8_but_ffn_outputs_and_heads_in_fp32(
        static: tuple[Path, dict[str, int]]) -> None:
    path, counts = static
    # Per layer: query, key, value, attention output, FFN input projection (2 layers); the FFN output
    # projections keep fp32 compute with int8 weights; the attention-score MatMuls and heads stay fp32; the word
    # and position embedding tables are int8 per row.
    assert counts == {"matmul_int8_compute": 10, "matmul_int8_weights_fp32_compute": 2, "gather": 2,
                      "activations_smoothed": 6}
    assert count_static_matmuls(path) == 10
    import onnx

    graph = onnx.load(str(path)).graph
    float_weights = [i for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT and np.prod(i.dims) >= 1024]
    assert not float_weights, [i.name for i in float_weights]  # every large matrix is stored in int8
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_static_int8_scores_a_post_the_same_alone_and_in_any_batch_and_close_to_fp32(
        fp32: Path, static: tuple[Path, dict[str, int]]) -> None:
    rows = _rows(12, seed=2)
    batch = _run(static[0], rows)
    for i, row in enumerate(rows):
        alone = _run(static[0], [row])
        for b, a in zip(batch, alone, strict=True):
            assert np.abs(b[i] - a[0]).max() < 1e-5
    reference = _run(fp32, rows)
    for q, f in zip(batch, reference, strict=True):
        assert np.abs(q - f).max() < 0.05 * np.abs(f).max()
        assert not np.array_equal(q, f)  # it really computes in int8


def test_smoothing_moves_scale_into_the_weights_without_changing_the_function(fp32: Path, tmp_path: Path) -> None:
    smoothed = tmp_path / "smoothed.onnx"
    names = [n for n in _matmul_names(fp32) if n not in float_matmuls(fp32, [], MIN_ELEMENTS)]
    # Four activations per layer: the attention input (query, key and value share it), the attention
    # context, the FFN input and the FFN hidden layer.
    assert smooth_activations(fp32, smoothed, _rows(20, seed=4), names, alpha=0.5) == 8
    import onnx
    from onnx import numpy_helper

    scales = [numpy_helper.to_array(i) for i in onnx.load(str(smoothed)).graph.initializer
              if i.name.endswith("_inv_scale")]
    assert len(scales) == 8 and all(np.ptp(s) > 0 for s in scales)  # per channel, not one number
    rows = _rows(8, seed=5)
    for a, b in zip(_run(fp32, rows), _run(smoothed, rows), strict=True):
        assert np.allclose(a, b, atol=1e-4)


def _matmul_names(path: Path) -> list[str]:
    import onnx

    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "MatMul"]


def test_float_matmuls_finds_ffn_outputs_attention_scores_and_small_heads(fp32: Path) -> None:
    from training.quantize import FFN_OUTPUT

    kept = float_matmuls(fp32, [FFN_OUTPUT], MIN_ELEMENTS)
    assert sum("/output/dense/" in n and "attention" not in n for n in kept) == 2
    assert not any("attention/output/dense" in n for n in kept)
    assert sum(n.endswith(("self/MatMul", "self/MatMul_1")) for n in kept) == 4  # scores and their mix, 2 layers
    assert len(_matmul_names(fp32)) - len(kept) == 10


def test_weights_only_int8_keeps_fp32_compute(fp32: Path, tmp_path: Path) -> None:
    path = tmp_path / "w8.onnx"
    assert quantize_int8(fp32, path, MIN_ELEMENTS) == {"matmul": 12, "gather": 2}
    assert count_static_matmuls(path) == 0
    rows = _rows(6, seed=6)
    for q, f in zip(_run(path, rows), _run(fp32, rows), strict=True):
        assert np.abs(q - f).max() < 0.05 * np.abs(f).max()


def test_static_int8_without_calibration_posts_is_refused(fp32: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="calibration posts"):
        quantize_static_int8(fp32, tmp_path / "x.onnx", [])


def test_calibration_sample_is_seeded_and_skips_empty_rows() -> None:
    rows = [[i, i + 1] for i in range(100)] + [[]] * 5
    first = calibration_sample(rows, 10, seed=13)
    assert first == calibration_sample(rows, 10, seed=13) and len(first) == 10 and [] not in first
    assert first != calibration_sample(rows, 10, seed=14)
    assert len(calibration_sample(rows, 1000, seed=1)) == 100

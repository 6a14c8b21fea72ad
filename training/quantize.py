"""Int8 versions of an exported fp32 ONNX network: what the file stores, and what the CPU computes in.

Two schemes, both batch-invariant (a post scores the same alone or in any batch, which the runtime promises):

* :func:`quantize_int8` — int8 *weights*, fp32 compute. onnxruntime fuses each ``DequantizeLinear`` → MatMul
  pair into ``MatMulNBits``; the file is ~3.5x smaller than fp32, the speed about that of fp32.
* :func:`quantize_static_int8` — int8 *compute*: the encoder's MatMuls take uint8 activations with fixed
  scales calibrated on real training posts (MinMax; QDQ format, so onnxruntime picks its int8 GEMM kernels:
  VNNI / AMX where the CPU has them, AVX2 elsewhere) and int8 weights, one scale per output channel, after
  SmoothQuant has moved the activations' outlier channels into the weights (:func:`smooth_activations`).
  Weights use 7 bits (``reduce_range``): on CPUs without VNNI the u8 x s8 kernel adds pairs of products in
  16 bits (``vpmaddubsw``), which can saturate with 8-bit weights (255 x 127 x 2 > 32767) and would make a
  post's scores depend on the machine; 255 x 63 x 2 cannot. Chosen layers (``keep_float``: the FFN output
  projections by default, whose input is the GELU output, the widest activations) keep fp32 activations
  and get int8 weights only. Dynamic quantisation is not offered: its activation scale is computed over the
  whole batch, so scores move with batch-mates (measured up to 0.33 in probability; bench/speed/int8.py).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# A pattern (re.search) for the MatMuls that keep fp32 activations under static int8: each layer's FFN output
# projection, "/model/encoder/encoder/layer.N/output/dense/MatMul" (the attention's is ".../attention/output/...").
FFN_OUTPUT = r"/layer\.\d+/output/dense/MatMul$"


def quantize_int8(src: Path, dst: Path, min_elements: int = 65_536) -> dict[str, int]:
    """Int8 *weights*, fp32 compute: every large MatMul weight and embedding table stored as symmetric int8.

    * MatMul weights ``[K, N]``: one scale per output column, ``DequantizeLinear(axis=1)`` before the MatMul.
    * Gather tables ``[V, H]`` (the word embeddings): one scale per row; the int8 rows and their scales are
      gathered, then multiplied.

    Why not onnxruntime's dynamic quantisation: it quantises *activations* with one scale per tensor,
    computed over the whole batch, so a post's scores change with its batch-mates (measured: ~1e-3 in
    probabilities), which breaks the runtime's promise that a text scores the same in any batch.
    Weight-only int8 keeps that promise, keeps fp32 accuracy within noise and shrinks the file ~3.5x.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    new_nodes = []
    counts = {"matmul": 0, "gather": 0}
    replaced: set[str] = set()
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits and consumers.get(node.input[1]) == 1:
            w = numpy_helper.to_array(inits[node.input[1]])
            if w.dtype == np.float32 and w.ndim == 2 and w.size >= min_elements:
                scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
                q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
                base = node.input[1]
                graph.initializer.extend([
                    numpy_helper.from_array(q, base + "_int8"),
                    numpy_helper.from_array(scale.astype(np.float32), base + "_scale"),
                    numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), base + "_zero"),
                ])
                new_nodes.append(helper.make_node("DequantizeLinear", [base + "_int8", base + "_scale", base + "_zero"],
                                                  [base + "_dq"], name=base + "_DequantizeLinear", axis=1))
                node.input[1] = base + "_dq"
                replaced.add(base)
                counts["matmul"] += 1
        elif node.op_type == "Gather" and node.input[0] in inits and consumers.get(node.input[0]) == 1:
            w = numpy_helper.to_array(inits[node.input[0]])
            if w.dtype == np.float32 and w.ndim == 2 and w.size >= min_elements:
                scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
                q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
                base, ids, out = node.input[0], node.input[1], node.output[0]
                graph.initializer.extend([
                    numpy_helper.from_array(q, base + "_int8"),
                    numpy_helper.from_array(scale.astype(np.float32)[:, None], base + "_rowscale"),
                ])
                new_nodes += [
                    helper.make_node("Gather", [base + "_int8", ids], [base + "_gq"], name=base + "_GatherInt8"),
                    helper.make_node("Cast", [base + "_gq"], [base + "_gf"], name=base + "_Cast", to=TensorProto.FLOAT),
                    helper.make_node("Gather", [base + "_rowscale", ids], [base + "_gs"], name=base + "_GatherScale"),
                    helper.make_node("Mul", [base + "_gf", base + "_gs"], [out], name=base + "_Dequantize"),
                ]
                replaced.add(base)
                counts["gather"] += 1
                continue
        new_nodes.append(node)
    kept = [i for i in graph.initializer if i.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(_topological(new_nodes, {i.name for i in graph.input} | {i.name for i in graph.initializer}))
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return counts


def _topological(nodes: list[Any], available: set[str]) -> list[Any]:
    """Order nodes so that every input is produced before use (the inserted nodes come first where needed)."""
    done: list[Any] = []
    ready = set(available) | {""}
    pending = list(nodes)
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                done.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("the quantised graph has a cycle or a missing input")
        pending = rest
    return done


class _CalibrationPosts:
    """Feeds token ids to onnxruntime's calibrator one post at a time: no padding, so the ranges it records
    are those of real tokens (MinMax reduces each run to a min and a max, so lengths may differ)."""

    def __init__(self, ids: Sequence[Sequence[int]]) -> None:
        self._feeds = iter([{"input_ids": np.array([row], np.int64),
                             "attention_mask": np.ones((1, len(row)), np.int64)} for row in ids])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the CalibrationDataReader protocol; MinMax makes one pass
        pass


def calibration_sample(ids: Sequence[Sequence[int]], n: int, seed: int) -> list[list[int]]:
    """``n`` token-id rows drawn with a fixed seed (the same posts on every export of the same data)."""
    rows = [list(r) for r in ids if r]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def float_matmuls(path: Path, keep_float: Sequence[str], min_elements: int) -> list[str]:
    """Names of the MatMul nodes of ``path`` that keep fp32 compute: those one of the ``keep_float`` patterns
    finds (``re.search``); those without a constant weight (attention scores and their mix with the values,
    a small share of the work: quantising them too lowered the fast model's agreement with fp32 from
    98.6-99.1% to 98.3-98.5% of dev labels; the QDQ quantiser ignores its ``MatMulConstBOnly`` option, so
    they are named here); and those whose weight is smaller than ``min_elements`` (the
    classification heads: tiny GEMMs, where int8 saves nothing and would round the logits themselves)."""
    import onnx

    return _float_matmuls(onnx.load(str(path), load_external_data=False).graph, keep_float, min_elements)


def _float_matmuls(graph: Any, keep_float: Sequence[str], min_elements: int) -> list[str]:
    sizes = {i.name: int(np.prod(i.dims)) for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and (
        any(re.search(k, n.name) for k in keep_float) or sizes.get(n.input[1], 0) < min_elements)]


def channel_maxima(path: Path, tensors: Sequence[str], calibration_ids: Sequence[Sequence[int]]) -> dict[str,
                                                                                                     np.ndarray]:
    """Per tensor, the largest |value| of each channel (last axis) over the calibration posts, through fp32."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    present = {o.name for o in model.graph.output}
    model.graph.output.extend([onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                               for t in tensors if t not in present])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor visible
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    for feeds in iter(_CalibrationPosts(calibration_ids).get_next, None):
        for name, value in zip(tensors, session.run(list(tensors), feeds), strict=True):
            m = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            maxima[name] = np.maximum(maxima[name], m) if name in maxima else m
    return maxima


def smooth_activations(src: Path, dst: Path, calibration_ids: Sequence[Sequence[int]], quantised: Sequence[str],
                       alpha: float) -> int:
    """SmoothQuant (Xiao et al., 2023): move activation outliers into the weights before static int8.

    A transformer's LayerNorm outputs have a few channels hundreds of times larger than the rest, so one
    activation scale per tensor leaves the ordinary channels a handful of int8 steps. For every activation
    feeding the ``quantised`` MatMuls, channel k is divided by s_k = max|X_k|^alpha / max|W_k|^(1-alpha)
    (a ``Mul`` before the MatMuls) and row k of each weight multiplied by it: the product is unchanged in exact
    arithmetic, and both sides become easier to quantise. Returns the number of activations smoothed.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    groups: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.name in quantised and node.input[1] in inits:
            groups.setdefault(node.input[0], []).append(node)
    maxima = channel_maxima(src, list(groups), calibration_ids)
    mul_nodes = []
    for tensor, consumers in groups.items():
        weights = [numpy_helper.to_array(inits[n.input[1]]) for n in consumers]
        w_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
        scale = np.where((maxima[tensor] > 0) & (w_max > 0),
                         np.power(np.maximum(maxima[tensor], 1e-8), alpha) / np.power(np.maximum(w_max, 1e-8),
                                                                                        1 - alpha), 1.0)
        scale = np.clip(scale, 1e-4, 1e4).astype(np.float32)
        smoothed = tensor + "_smoothed"
        graph.initializer.append(numpy_helper.from_array((1.0 / scale).astype(np.float32), smoothed + "_inv_scale"))
        mul_nodes.append(onnx.helper.make_node("Mul", [tensor, smoothed + "_inv_scale"], [smoothed],
                                               name=smoothed + "_Mul"))
        for node, w in zip(consumers, weights, strict=True):
            inits[node.input[1]].CopyFrom(numpy_helper.from_array((w * scale[:, None]).astype(np.float32),
                                                                  node.input[1]))
            node.input[0] = smoothed
    nodes = list(graph.node) + mul_nodes
    del graph.node[:]
    graph.node.extend(_topological(nodes, {i.name for i in graph.input} | {i.name for i in graph.initializer}))
    onnx.save(model, str(dst))
    return len(groups)


def quantize_static_int8(src: Path, dst: Path, calibration_ids: Sequence[Sequence[int]], *,
                         keep_float: Sequence[str] = (FFN_OUTPUT,), min_elements: int = 65_536,
                         smooth_alpha: float | None = 0.5) -> dict[str, int]:
    """Static int8 compute for ``src`` (fp32) into ``dst``; returns what was quantised how.

    The excluded MatMuls and the embedding table then get int8 weights by :func:`quantize_int8`, so the file
    stays as small as the weights-only one.
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration_ids:
        raise ValueError("static int8 needs calibration posts; the recipe's training split has none")
    with tempfile.TemporaryDirectory(prefix="triage-qdq-") as tmp:
        pre, qdq = Path(tmp) / "pre.onnx", Path(tmp) / "qdq.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        graph = onnx.load(str(pre), load_external_data=False).graph
        excluded = _float_matmuls(graph, keep_float, min_elements)
        quantised = [n.name for n in graph.node if n.op_type == "MatMul" and n.name not in excluded]
        smoothed = 0
        if smooth_alpha is not None:
            smoothed = smooth_activations(pre, pre, calibration_ids, quantised, smooth_alpha)
        quantize_static(str(pre), str(qdq), _CalibrationPosts(calibration_ids), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_exclude=excluded,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        weights_only = quantize_int8(qdq, dst, min_elements)
    return {"matmul_int8_compute": count_static_matmuls(dst), "matmul_int8_weights_fp32_compute":
            weights_only["matmul"], "gather": weights_only["gather"], "activations_smoothed": smoothed}


def count_static_matmuls(path: Path) -> int:
    """MatMuls whose activation input comes through a DequantizeLinear (QDQ: int8 compute once fused)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    produced_by = {out: n.op_type for n in graph.node for out in n.output}
    return sum(1 for n in graph.node if n.op_type == "MatMul" and produced_by.get(n.input[0]) == "DequantizeLinear")

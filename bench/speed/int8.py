"""Which int8 kernels to ship: the exported graph and two alternatives, timed and compared on real posts.

``python -m bench.speed.int8 --model models/default [--posts 400] [--out bench/results]``

Variants, all built from the model folder's own ``model.onnx`` (int8 weights, ``DequantizeLinear`` → MatMul):

* ``shipped``  — the file as exported; onnxruntime fuses each pair into ``MatMulNBits`` (8-bit weights,
  activations quantised per block of each row at run time: a post scores the same in any batch);
* ``fp32``     — the same weights dequantised into float initializers (fp32 compute, the accuracy reference);
* ``dynamic``  — ``onnxruntime.quantization.quantize_dynamic`` of ``fp32`` (per-channel int8 weights,
  ``MatMulInteger`` with activations quantised per *tensor*: one scale over the whole batch);
* ``static``   — ``training.quantize.quantize_static_int8`` of ``fp32`` without its protections: QDQ,
  per-channel 7-bit int8 weights, uint8 activations with fixed scales (MinMax) calibrated on 512 real
  *training* posts (batch-invariant by construction), every encoder MatMul with a constant weight;
* ``static_smooth_ffn_out_fp32`` — the candidate the export builds (``export.int8_compute``): SmoothQuant
  (alpha 0.5) first, each layer's FFN output projection (its input is the GELU output, the widest
  activations) and the heads left in fp32 compute.

For each: posts/s over real posts in length-sorted batches of 32 at 1 and 2 threads, single-post p50,
agreement of the top label with ``fp32`` per head, and batch invariance (the largest probability difference
of a post scored alone and inside a batch). The machine's CPU model and ISA flags are recorded.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def cpu_info() -> dict[str, Any]:
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").is_file() else ""
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return {"model": model, "machine": platform.machine(), "avx2": "avx2" in flags,
            "avx512_vnni": "avx512_vnni" in flags, "cores": text.count("processor\t:")}


def fold_to_fp32(src: Path, dst: Path) -> None:
    """Replace every DequantizeLinear of a constant by its float value (weights as the model computes them)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    keep, folded = [], []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(n in inits for n in node.input):
            q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
            scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            w = q * (scale.reshape(shape) if scale.ndim else scale)
            folded.append(numpy_helper.from_array(w.astype(np.float32), node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    graph.initializer.extend(folded)
    onnx.save(model, str(dst))


def quantize_dynamic_variant(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])


def quantize_static_variant(src: Path, dst: Path, calibration_ids: list[list[int]], export_recipe: bool) -> None:
    """``training.quantize.quantize_static_int8``: as the export builds it (SmoothQuant, FFN outputs fp32
    compute) or plainly (every encoder MatMul with a constant weight, no smoothing)."""
    from training.quantize import FFN_OUTPUT, quantize_static_int8

    quantize_static_int8(src, dst, calibration_ids, keep_float=[FFN_OUTPUT] if export_recipe else [],
                         smooth_alpha=0.5 if export_recipe else None)


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _feeds(batch: list[list[int]]) -> dict[str, np.ndarray]:
    width = max(len(r) for r in batch)
    ids = np.full((len(batch), width), 1, np.int64)
    mask = np.zeros((len(batch), width), np.int64)
    for i, row in enumerate(batch):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    return {"input_ids": ids, "attention_mask": mask}


def _logits(session: Any, ids: list[list[int]], heads: list[str]) -> dict[str, np.ndarray]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = {h: np.zeros((len(ids), 0), np.float32) for h in heads}
    parts: dict[str, list[tuple[list[int], np.ndarray]]] = {h: [] for h in heads}
    for start in range(0, len(order), 32):
        chunk = order[start : start + 32]
        values = session.run([f"logits__{h}" for h in heads], _feeds([ids[i] for i in chunk]))
        for h, v in zip(heads, values, strict=True):
            parts[h].append((chunk, v))
    for h in heads:
        width = parts[h][0][1].shape[1]
        out[h] = np.zeros((len(ids), width), np.float32)
        for chunk, v in parts[h]:
            out[h][chunk] = v
    return out


def measure(path: Path, ids: list[list[int]], heads: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for threads in (1, 2):
        session = _session(path, threads)
        _logits(session, ids[:64], heads)  # warm up
        t = time.perf_counter()
        logits = _logits(session, ids, heads)
        result[f"posts_per_s_{threads}t"] = round(len(ids) / (time.perf_counter() - t), 1)
    session = _session(path, 1)
    times = []
    for row in ids[:200]:
        t = time.perf_counter()
        session.run(None, _feeds([row]))
        times.append((time.perf_counter() - t) * 1000)
    result["single_p50_ms"] = round(statistics.median(times), 2)
    alone = [session.run([f"logits__{h}" for h in heads], _feeds([row])) for row in ids[:32]]
    batched = session.run([f"logits__{h}" for h in heads], _feeds(ids[:32]))
    result["batch_invariance_max_abs"] = float(max(
        np.abs(_softmax(batched[k][i]) - _softmax(alone[i][k][0])).max() for i in range(32) for k in range(len(heads))))
    result["_logits"] = logits
    return result


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def run(model_dir: Path, posts: int) -> dict[str, Any]:
    from tokenizers import Tokenizer

    from training.config import ExportConfig, SourceConfig
    from training.quantize import calibration_sample
    from training.sources import load_source
    from triage.artifact import read_manifest
    from triage.text.normalise import normalise

    manifest = read_manifest(model_dir)
    heads = [h.name for h in manifest.label_schema.heads]
    source = SourceConfig(name="real", kind="real_labels", path=Path("data/real").resolve(),
                          texts=Path("../shared/datasets").resolve())
    splits = load_source(source, manifest.label_schema.heads)
    examples = splits["test"][:posts]
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=manifest.max_length)
    tok.no_padding()  # the file pads batches to their longest row; the runtime encodes each post on its own

    def encode(rows: list[Any]) -> list[list[int]]:
        return [e.ids for e in tok.encode_batch([manifest.query_prefix + normalise(x.text).text for x in rows])]

    ids = encode(examples)
    # The export's calibration posts: a seeded sample of the real training split.
    calibration_ids = calibration_sample(encode(splits["train"]), ExportConfig().int8_calibration_posts, seed=13)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, dyn = Path(tmp) / "fp32.onnx", Path(tmp) / "dynamic.onnx"
        static, static_smooth = Path(tmp) / "static.onnx", Path(tmp) / "static_smooth.onnx"
        fold_to_fp32(model_dir / "model.onnx", fp32)
        quantize_dynamic_variant(fp32, dyn)
        quantize_static_variant(fp32, static, calibration_ids, export_recipe=False)
        quantize_static_variant(fp32, static_smooth, calibration_ids, export_recipe=True)
        variants = {"shipped": model_dir / "model.onnx", "fp32": fp32, "dynamic": dyn, "static": static,
                    "static_smooth_ffn_out_fp32": static_smooth}
        results = {name: measure(path, ids, heads) for name, path in variants.items()}
    ref = results["fp32"].pop("_logits")
    labels = _test_labels(examples, manifest.label_schema.heads)
    results["fp32"]["macro_f1_points"] = _macro_f1_points(ref, labels)
    for name in ("shipped", "dynamic", "static", "static_smooth_ffn_out_fp32"):
        logits = results[name].pop("_logits")
        results[name]["top_label_agreement_with_fp32"] = {
            h: round(float((logits[h].argmax(1) == ref[h].argmax(1)).mean()), 4) for h in heads}
        results[name]["macro_f1_points"] = _macro_f1_points(logits, labels)
    return {"model": str(model_dir), "posts": len(ids), "cpu": cpu_info(), "variants": results}


def _test_labels(examples: list[Any], heads: list[Any]) -> dict[str, tuple[list[int], list[int]]]:
    """Per head: (rows with a gold label, their label indices)."""
    out = {}
    for head in heads:
        rows = [i for i, e in enumerate(examples) if head.name in e.labels]
        out[head.name] = (rows, [e.labels[head.name] for e in (examples[i] for i in rows)])
    return out


def _macro_f1_points(logits: dict[str, np.ndarray], labels: dict[str, tuple[list[int], list[int]]]) -> dict[str, float]:
    """Macro-F1 (points) against the real test labels, per head that has them."""
    from training.metrics import macro_f1

    return {h: round(100 * macro_f1(np.array(y), logits[h][rows].argmax(1)), 2)
            for h, (rows, y) in labels.items() if rows and h in logits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.int8", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None, help="Write int8.json here (default: print only).")
    args = parser.parse_args(argv)
    report = run(args.model, args.posts)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "int8.json").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

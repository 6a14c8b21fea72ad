"""Model FLOPs per post, from the encoder's shape and the post's token count.

For a BERT-style encoder with L layers, hidden size h, feed-forward size f and T tokens (one post,
no padding):

* the dense layers per layer are Q, K, V, attention-out (4·h·h weights) and the feed-forward pair
  (2·h·f weights): ``2 · (4h² + 2hf) · T`` FLOPs (one multiply + one add per weight per token);
* attention scores ``QKᵀ`` and the weighted sum ``AV``: ``2 · T² · h`` each, ``4 · T² · h`` per layer;
* the classification heads on the pooled vector: ``2 · h · labels`` per head, once per post.

Embedding look-ups, layer norms, GELU, softmax and biases are left out: they are memory-bound and
small next to the matrix products, and "model FLOPs" conventionally counts only the products.

Example (the 12-layer e5-small encoder, h=384, f=1536): ``2 · 21.2 M · 25 ≈ 1.06 GFLOP`` for a
25-token post, plus 5.5 MFLOP of attention.

The architecture is read from the manifest's ``architecture`` (Hugging Face config names or short
ones), and where that is missing, inferred from the ONNX graph's weights.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_ALIASES: dict[str, tuple[str, ...]] = {
    "layers": ("num_hidden_layers", "layers", "n_layers", "num_layers", "n_layer"),
    "hidden": ("hidden_size", "hidden", "d_model", "dim", "n_embd"),
    "intermediate": ("intermediate_size", "intermediate", "ffn_dim", "hidden_dim", "d_ff", "n_inner"),
    "heads": ("num_attention_heads", "heads", "n_heads", "num_heads", "n_head"),
    "vocab": ("vocab_size", "vocab"),
}


MATMUL_OPS = ("MatMul", "Gemm", "FusedMatMul", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat")
# Ops that mean the dense layers run in int8 (dynamic or static quantisation).
QUANTISED_OPS = frozenset({"MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearMatMul",
                           "QGemm", "DynamicQuantizeLinear", "QAttention"})


def graph_ops(onnx_path: Path) -> dict[str, int]:
    """How many nodes of each op type the ONNX graph has (weights are not needed, only the structure)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    counts: dict[str, int] = {}
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


@dataclass(frozen=True)
class Arch:
    """The shape of a transformer encoder and its classification heads."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    vocab: int | None = None
    head_labels: tuple[int, ...] = ()
    source: str = "manifest"

    @property
    def dense_params_per_layer(self) -> int:
        return 4 * self.hidden * self.hidden + 2 * self.hidden * self.intermediate

    @property
    def dense_params(self) -> int:
        """Weights that take part in per-token matrix products (encoder only)."""
        return self.layers * self.dense_params_per_layer

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dense_params"] = self.dense_params
        return d


def _pick(mapping: Mapping[str, Any], names: Iterable[str]) -> int | None:
    for name in names:
        value = mapping.get(name)
        if isinstance(value, int | float) and value > 0:
            return int(value)
    return None


def mapping_values(config: Mapping[str, Any]) -> dict[str, int]:
    """The architecture numbers a config dict states (also one level down, e.g. ``{"encoder": {...}}``)."""
    candidates = [config] + [v for v in config.values() if isinstance(v, Mapping)]
    for cand in candidates:
        values = {key: _pick(cand, names) for key, names in _ALIASES.items()}
        if values["layers"] and values["hidden"]:
            return {k: v for k, v in values.items() if v}
    return {}


def arch_from_mapping(config: Mapping[str, Any], head_labels: Sequence[int] = (),
                      source: str = "manifest") -> Arch | None:
    """An :class:`Arch` from a config dict; unstated sizes take BERT's defaults (FFN 4h, 64-wide heads)."""
    values = mapping_values(config)
    if not values:
        return None
    return Arch(
        layers=values["layers"],
        hidden=values["hidden"],
        intermediate=values.get("intermediate") or 4 * values["hidden"],
        heads=values.get("heads") or max(1, values["hidden"] // 64),
        vocab=values.get("vocab"),
        head_labels=tuple(head_labels),
        source=source,
    )


def _weight_shapes(graph: Any) -> dict[str, tuple[int, ...]]:
    """Shape of every constant tensor: initializers, Constant nodes, and DequantizeLinear outputs
    (weight-only int8 exports store ``W_int8`` and dequantise it in the graph)."""
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].t.dims:
            shapes[node.output[0]] = tuple(node.attribute[0].t.dims)
        elif node.op_type == "DequantizeLinear" and node.input[0] in shapes:
            shapes[node.output[0]] = shapes[node.input[0]]
    return shapes


def arch_from_onnx(onnx_path: Path, head_labels: Sequence[int] = ()) -> Arch:
    """Infer the encoder shape from an ONNX graph: square and (h, f) weight matrices, Softmax count.

    Works for plain (un-fused) exports, fp32 or int8: every dense layer is a MatMul/Gemm (or an integer
    MatMul) with a 2-D constant weight. The number of attention heads cannot be read from the weights.
    """
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    shapes = _weight_shapes(graph)
    matmul_weights = [
        shapes[name]
        for node in graph.node
        if node.op_type in MATMUL_OPS
        for name in node.input[1:2]
        if name in shapes and len(shapes[name]) == 2
    ]
    # The word-embedding table is what input_ids index; else (unusual graphs) the tallest 2-D constant.
    inputs = {i.name for i in graph.input}
    looked_up = [shapes[n.input[0]] for n in graph.node
                 if n.op_type == "Gather" and n.input[1] in inputs and len(shapes.get(n.input[0], ())) == 2]
    embedding = looked_up[0] if looked_up else max((s for s in shapes.values() if len(s) == 2),
                                                   key=lambda s: s[0], default=(0, 0))
    hidden = embedding[1]
    square = [s for s in matmul_weights if s == (hidden, hidden)]
    ffn = [s for s in matmul_weights if hidden in s and s != (hidden, hidden) and max(s) > hidden]
    intermediate = max((max(s) for s in ffn), default=4 * hidden)
    layers = len(square) // 4 if square else sum(1 for n in graph.node if n.op_type == "Softmax")
    return Arch(
        layers=layers,
        hidden=hidden,
        intermediate=intermediate,
        heads=max(1, hidden // 64),
        vocab=embedding[0] or None,
        head_labels=tuple(head_labels),
        source="onnx graph",
    )


def arch_for_model(model_dir: Path) -> Arch:
    """The architecture of a model folder: what the manifest's ``architecture`` states, the rest (e.g. the
    feed-forward width, which training's manifest leaves out) read from the ONNX graph.
    """
    manifest = json.loads((Path(model_dir) / "manifest.json").read_text(encoding="utf-8"))
    head_labels = tuple(len(h["labels"]) for h in manifest.get("schema", {}).get("heads", []))
    stated = mapping_values(manifest.get("architecture") or {})
    try:
        graph = arch_from_onnx(Path(model_dir) / "model.onnx", head_labels)
    except Exception:  # no onnx package or an unusual graph: the manifest (with BERT defaults) stands
        graph = None
    if graph is None:
        arch = arch_from_mapping(manifest.get("architecture") or {}, head_labels)
        if arch is None:
            raise ValueError(f"{model_dir}: neither the manifest nor the ONNX graph gives the architecture")
        return arch
    if not stated:
        return graph
    return Arch(
        layers=stated["layers"],
        hidden=stated["hidden"],
        intermediate=stated.get("intermediate") or graph.intermediate,
        heads=stated.get("heads") or graph.heads,
        vocab=stated.get("vocab") or graph.vocab,
        head_labels=head_labels,
        source="manifest" if "intermediate" in stated else "manifest + onnx graph (FFN width)",
    )


def computes_int8(ops: Mapping[str, int]) -> bool:
    """Whether some dense layers run integer kernels: quantised operators, or QDQ activations (static int8)."""
    return bool(set(ops) & QUANTISED_OPS) or "QuantizeLinear" in ops


def quantisation(ops: Mapping[str, int]) -> str:
    """How the dense layers compute: "int8" (integer matmuls), static QDQ int8 (QuantizeLinear on activations,
    see training.quantize; some MatMuls may keep fp32 compute), "int8 weights, fp32 compute"
    (DequantizeLinear feeding fp32 MatMul), or "fp32"."""
    if set(ops) & QUANTISED_OPS:
        return "int8"
    if "QuantizeLinear" in ops:
        return "int8 (static QDQ) in most MatMuls, int8 weights with fp32 compute in the rest"
    if "DequantizeLinear" in ops:
        return "int8 weights, fp32 compute"
    return "fp32"


def flops_per_post(arch: Arch, tokens: int) -> float:
    """Matrix-multiply FLOPs to classify one post of ``tokens`` tokens (special tokens included)."""
    t = float(tokens)
    dense = 2.0 * arch.dense_params * t
    attention = arch.layers * 4.0 * t * t * arch.hidden
    heads = sum(2.0 * arch.hidden * n for n in arch.head_labels)
    return dense + attention + heads


def flops_padded_batch(arch: Arch, lengths: Sequence[int]) -> float:
    """FLOPs the hardware actually executes for one batch padded to its longest member."""
    if not lengths:
        return 0.0
    return len(lengths) * flops_per_post(arch, max(lengths))


def flops_batches(arch: Arch, lengths: Sequence[int], batch_size: int, *, sort: bool) -> tuple[float, float]:
    """(useful, executed) FLOPs for scoring ``lengths`` in batches (length-sorted or in input order)."""
    order = sorted(lengths) if sort else list(lengths)
    useful = sum(flops_per_post(arch, n) for n in order)
    executed = sum(flops_padded_batch(arch, order[i : i + batch_size]) for i in range(0, len(order), batch_size))
    return useful, executed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.flops", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: models/default)")
    parser.add_argument("--tokens", type=int, nargs="+", default=[16, 25, 32, 64, 128])
    args = parser.parse_args(argv)
    from bench.common import DEFAULT_MODEL_DIR

    arch = arch_for_model(args.model or DEFAULT_MODEL_DIR)
    print(json.dumps(arch.to_dict(), indent=2))
    for t in args.tokens:
        print(f"{t:>5} tokens: {flops_per_post(arch, t) / 1e9:.3f} GFLOP")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

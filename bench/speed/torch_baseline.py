"""The standard stack: the same model in PyTorch + transformers, run the way most projects run it.

The shipped model is an ONNX graph. To measure what our runtime buys, the *same* network is rebuilt
as a PyTorch module and run like a ``transformers`` text-classification pipeline:

* **one at a time** — tokenizer call per post (``return_tensors="pt"``), forward, softmax per head;
* **batched** — 32 posts per call in input order, padded to the longest (what ``pipeline(...,
  batch_size=32)`` does), and the same with length-sorted batches (to separate the runtime's share of
  any gain from the batching's share);
* **literal pipeline** — ``transformers.pipeline("text-classification")`` on a
  ``BertForSequenceClassification`` with the same encoder weights (one head), when transformers can
  build it;

each at ``torch.set_num_threads(1)`` and ``(2)``.

Where the torch module comes from, best first:

1. the training package's own loader, when ``training/`` exposes one (see :func:`load_training_checkpoint`);
2. a BERT encoder + pooled linear heads built from the manifest's architecture, with the weights read
   back out of ``model.onnx`` (by name, then by graph position) and **verified** against onnxruntime on
   real posts;
3. if the weights cannot be recovered (a fused or quantised graph), the same shapes with random
   weights: the timing is the same (a weight's value does not change the work), and the results say so.

:func:`build_tiny_artifact` writes a tiny random model folder in the artifact format, for smoke runs.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

# --------------------------------------------------------------------------------------------------
# The module


class TorchMultiHead(nn.Module):
    """A BERT encoder, mean- or CLS-pooled, with one linear head per schema head (the exported layout).

    ``forward(input_ids, attention_mask)`` returns ``{"logits__<head>": (B, labels), "embedding": (B, h)}``.
    """

    def __init__(self, config: Any, heads: dict[str, int], pooling: str = "mean") -> None:
        from transformers import BertModel

        super().__init__()
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.heads = nn.ModuleDict({name: nn.Linear(config.hidden_size, n) for name, n in heads.items()})
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out = {f"logits__{name}": head(pooled) for name, head in self.heads.items()}
        out["embedding"] = nn.functional.normalize(pooled, dim=-1)
        return out


def _manifest(model_dir: Path) -> dict[str, Any]:
    return json.loads((Path(model_dir) / "manifest.json").read_text(encoding="utf-8"))


def bert_config_for(model_dir: Path, tensors: dict[str, np.ndarray] | None = None, *, heads: int | None = None,
                    attn: str | None = None) -> Any:
    """A ``BertConfig`` for a model folder: sizes from the manifest and the ONNX graph (``tensors``: its
    constants by name), the embedding tables' sizes from the graph when their names say which they are.
    """
    from transformers import BertConfig

    from bench.speed.flops import arch_for_model

    manifest = _manifest(model_dir)
    arch = arch_for_model(model_dir)
    raw = manifest.get("architecture") or {}
    raw = raw.get("encoder", raw) if isinstance(raw.get("encoder"), dict) else raw

    def table_rows(suffix: str, default: int) -> int:
        for name, value in (tensors or {}).items():
            if name.endswith(suffix) and value.ndim == 2 and value.shape[1] == arch.hidden:
                return int(value.shape[0])
        return default

    config = BertConfig(
        vocab_size=table_rows("word_embeddings.weight", arch.vocab or 250037),
        hidden_size=arch.hidden,
        num_hidden_layers=arch.layers,
        num_attention_heads=heads or arch.heads,
        intermediate_size=arch.intermediate,
        max_position_embeddings=table_rows("position_embeddings.weight", int(raw.get("max_position_embeddings", 512))),
        type_vocab_size=table_rows("token_type_embeddings.weight", int(raw.get("type_vocab_size", 2))),
        layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
        hidden_act=str(raw.get("hidden_act", "gelu")),
        pad_token_id=int(raw.get("pad_token_id", 1)),
    )
    if attn:
        config._attn_implementation = attn
    return config


# --------------------------------------------------------------------------------------------------
# Weights back out of the ONNX graph


def _onnx_tensors(onnx_path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    tensors = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for name in list(tensors):  # row-quantised embedding tables (training/export.py's int8 Gather)
        if name.endswith("_int8") and f"{name[:-5]}_rowscale" in tensors:
            rows = tensors[f"{name[:-5]}_rowscale"].astype(np.float32).reshape(-1, 1)
            tensors[name[:-5]] = tensors[name].astype(np.float32) * rows
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in tensors:  # de-duplicated parameters
            tensors[node.output[0]] = tensors[node.input[0]]
        elif node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "DequantizeLinear" and node.input[0] in tensors and node.input[1] in tensors:
            # weight-only int8: materialise the fp32 weights the graph computes with
            x = tensors[node.input[0]].astype(np.float32)
            scale = tensors[node.input[1]].astype(np.float32)
            zero = tensors[node.input[
                2]].astype(np.float32) if len(node.input) > 2 and node.input[2] in tensors else 0.0
            if np.ndim(scale) == 1 and np.size(scale) > 1:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                shape = [1] * x.ndim
                shape[axis] = -1
                scale = scale.reshape(shape)
                zero = np.reshape(zero, shape) if np.ndim(zero) else zero
            tensors[node.output[0]] = (x - zero) * scale
    return model.graph, tensors


def _call_order(module: nn.Module, kind: type[nn.Module], sample: dict[str, torch.Tensor]) -> list[str]:
    """Names of ``kind`` submodules in the order a forward pass calls them."""
    order: list[str] = []
    hooks = [m.register_forward_hook(lambda _m, _i, _o, n=name: order.append(n))
             for name, m in module.named_modules() if isinstance(m, kind)]
    try:
        with torch.inference_mode():
            module(**sample)
    finally:
        for h in hooks:
            h.remove()
    return order


def load_weights_from_onnx(module: nn.Module, onnx_path: Path, sample: dict[str, torch.Tensor],
                           loaded: tuple[Any, dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """Copy the graph's weights into ``module``: by name where the exporter kept names, else by position.

    Position: the graph's MatMul/Gemm weights (with the bias of the Add that follows) in graph order
    against the module's ``nn.Linear`` calls in forward order; LayerNormalization likewise; Gather
    tables by shape. Returns how many parameters were filled; the caller verifies the outputs.
    """
    graph, tensors = loaded or _onnx_tensors(onnx_path)
    state = module.state_dict()
    filled: dict[str, np.ndarray] = {}

    floats = {k: v for k, v in tensors.items() if v.dtype.kind == "f"}
    # 1. by name (suffix match on a dot boundary, same shape)
    for key, param in state.items():
        for name, value in floats.items():
            if tuple(value.shape) == tuple(param.shape) and (
                name == key or name.endswith("." + key) or key.endswith("." + name)
            ):
                filled[key] = value
                break

    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for inp in node.input:
            consumers.setdefault(inp, []).append(node)

    # 2. dense layers by position
    dense: list[tuple[np.ndarray, np.ndarray | None]] = []
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in tensors and tensors[node.input[1]].ndim == 2:
            weight = tensors[node.input[1]].T  # ONNX (in, out) -> torch (out, in)
            bias = None
            for nxt in consumers.get(node.output[0], []):
                if nxt.op_type == "Add":
                    other = [i for i in nxt.input if i != node.output[0]]
                    if other and other[0] in tensors and tensors[other[0]].ndim == 1:
                        bias = tensors[other[0]]
            dense.append((weight, bias))
        elif node.op_type == "Gemm" and node.input[1] in tensors:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            weight = tensors[node.input[1]] if trans_b else tensors[node.input[1]].T
            bias = tensors.get(node.input[2]) if len(node.input) > 2 else None
            dense.append((weight, bias))
    linears = _call_order(module, nn.Linear, sample)
    if len(linears) == len(dense):
        for name, (weight, bias) in zip(linears, dense, strict=True):
            if tuple(weight.shape) == tuple(state[f"{name}.weight"].shape):
                filled[f"{name}.weight"] = weight
                if bias is not None and f"{name}.bias" in state:
                    filled[f"{name}.bias"] = bias

    # 3. layer norms by position
    norms = [n for n in graph.node if n.op_type == "LayerNormalization"]
    ln_names = _call_order(module, nn.LayerNorm, sample)
    if len(norms) == len(ln_names):
        for name, node in zip(ln_names, norms, strict=True):
            if node.input[1] in tensors:
                filled[f"{name}.weight"] = tensors[node.input[1]]
            if len(node.input) > 2 and node.input[2] in tensors:
                filled[f"{name}.bias"] = tensors[node.input[2]]

    # 4. embedding tables by shape (those not named)
    for key, param in state.items():
        if key.endswith("embeddings.weight") and key not in filled:
            same = [v for v in floats.values() if tuple(v.shape) == tuple(param.shape)]
            if len(same) == 1:
                filled[key] = same[0]

    new_state = {k: torch.from_numpy(np.array(v, copy=True)).to(state[k].dtype) for k, v in filled.items()
                 if tuple(v.shape) == tuple(state[k].shape)}
    module.load_state_dict(new_state, strict=False)
    skipped = sorted(k for k in state if k not in new_state and not k.endswith("position_ids"))
    return {"filled": len(new_state), "total": len(state), "missing": skipped[:20]}


# --------------------------------------------------------------------------------------------------
# Building the torch model for a model folder


def training_checkpoint_for(model_dir: Path, explicit: Path | None = None) -> Path | None:
    """The training checkpoint folder a model was exported from: ``explicit``, else one the manifest names.

    A checkpoint folder holds ``model.json`` + ``model.safetensors`` (``training.model.MultiHeadModel.save``);
    a run folder is resolved to its final checkpoint with ``training.checkpoint.checkpoint_dir``.
    """
    from bench.common import ROOT

    candidates: list[Path] = [explicit] if explicit else []
    training = _manifest(model_dir).get("training") or {}
    candidates += [Path(v) for v in training.values() if isinstance(v, str) and ("/" in v or v.startswith("runs"))]
    # training/export.py records the recipe and the checkpoint kind: `triage train --out runs/<recipe>` convention.
    recipe, kind = training.get("recipe"), training.get("kind")
    if isinstance(recipe, str) and isinstance(kind, str):
        candidates.append(ROOT / "runs" / recipe / kind)
    for cand in candidates:
        for path in (cand, Path(model_dir) / cand):
            if (path / "model.json").is_file():
                return path
            try:
                from training.checkpoint import checkpoint_dir

                resolved = checkpoint_dir(path)
            except Exception:  # not a run folder, or training/ not installed
                continue
            if (resolved / "model.json").is_file():
                return resolved
    return None


def encoder_layers(module: nn.Module) -> int | None:
    """How many transformer layers ``module`` runs (a teacher checkpoint may have more than the export)."""
    found = {int(m.group(1)) for name, _ in module.named_parameters() if (m := re.search(r"\.layers?\.(\d+)\.", name))}
    return max(found) + 1 if found else None


def load_training_checkpoint(path: Path) -> nn.Module:
    """``training.model.MultiHeadModel.load(path)``: the module exactly as trained (sdpa attention)."""
    from training.model import MultiHeadModel

    return MultiHeadModel.load(Path(path)).eval()


def _tokenize(tokenizer: Any, texts: Sequence[str], prefix: str, max_length: int) -> dict[str, torch.Tensor]:
    enc = tokenizer([prefix + t for t in texts], padding="longest", truncation=True, max_length=max_length,
                    return_tensors="pt", return_token_type_ids=False)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def hf_tokenizer(model_dir: Path) -> Any:
    """The model's ``tokenizer.json`` as a transformers fast tokenizer (what a pipeline would use)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(Path(model_dir) / "tokenizer.json"),
        pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
    )


def _outputs(out: Any) -> dict[str, torch.Tensor]:
    """Logits per head from either module: ``{"logits__h": ...}`` (ours) or ``({"h": ...}, embedding)`` (training's)."""
    if isinstance(out, tuple):
        out = out[0]
    if isinstance(out, dict):
        return {k.removeprefix("logits__"): v for k, v in out.items() if k != "embedding"}
    raise TypeError(f"the torch model returned {type(out).__name__}, expected a dict of logits")


def torch_model_for(
    model_dir: Path, texts: Sequence[str], *, checkpoint: Path | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The torch twin of a model folder and how it was obtained (with the check against onnxruntime)."""
    from triage.classify.onnx_model import OnnxClassifier

    manifest = _manifest(model_dir)
    prefix, max_length = manifest.get("query_prefix", "query: "), int(manifest["max_length"])
    heads = {h["name"]: len(h["labels"]) for h in manifest["schema"]["heads"]}
    tokenizer = hf_tokenizer(model_dir)
    sample = _tokenize(tokenizer, list(texts[:8]), prefix, max_length)
    onnx_clf = OnnxClassifier(Path(model_dir), threads=1)
    ids = [list(map(int, row[: int(m.sum())])) for row, m in zip(sample["input_ids"], sample["attention_mask"],
                                                                 strict=True)]
    onnx_logits = onnx_clf._run(ids)

    def check(module: nn.Module) -> float:
        with torch.inference_mode():
            got = _outputs(module(**sample))
        diffs = [float(np.abs(got[h].numpy() - onnx_logits[f"logits__{h}"]).max()) for h in heads if h in got]
        return max(diffs) if diffs else math.inf

    info: dict[str, Any] = {"source": None}
    ckpt = training_checkpoint_for(model_dir, checkpoint)
    if ckpt is not None:
        try:
            module = load_training_checkpoint(ckpt)
            diff = check(module)
            # An int8 export differs from its fp32 checkpoint by quantisation noise, not by a bug.
            info.update(source=f"training checkpoint {ckpt} (training.model.MultiHeadModel.load)",
                        max_abs_logit_diff_vs_onnx=round(diff, 6), verified=diff < 0.5,
                        layers=encoder_layers(module))
            return module, info
        except Exception as exc:
            info["training_loader_error"] = f"{type(exc).__name__}: {exc}"

    graph = _onnx_tensors(Path(model_dir) / "model.onnx")
    config = bert_config_for(model_dir, graph[1])
    declared = str((manifest.get("architecture") or {}).get("pooling", "mean"))
    hidden = config.hidden_size
    # The head count cannot be read from the weights: try the stated one, then the usual ones.
    head_counts = [h for h in dict.fromkeys([config.num_attention_heads, hidden // 64, 12, 8, 16, 6, 4, 2, 1])
                   if h and hidden % h == 0]
    best: tuple[float, nn.Module, dict[str, Any]] | None = None
    for pooling in dict.fromkeys([declared, "mean", "cls"]):
        for n_heads in head_counts:
            config.num_attention_heads = n_heads
            module = TorchMultiHead(config, heads, pooling=pooling).eval()
            loaded = load_weights_from_onnx(module, Path(model_dir) / "model.onnx", sample, graph)
            diff = check(module)
            if best is None or diff < best[0]:
                best = (diff, module, {"pooling": pooling, "attention_heads": n_heads, "weights_loaded": loaded})
            if diff < 1e-3:
                break
        if best is not None and best[0] < 1e-3:
            break
    assert best is not None
    diff, module, extra = best
    verified = diff < 1e-3
    info.update(extra)
    info["max_abs_logit_diff_vs_onnx"] = round(diff, 6) if math.isfinite(diff) else None
    info["source"] = (
        "weights read back from model.onnx, outputs verified against onnxruntime" if verified else
        "same architecture and shapes as model.onnx, weights NOT verified (timing is still like for like)"
    )
    info["verified"] = verified
    return module, info


# --------------------------------------------------------------------------------------------------
# The pipeline-style loops


def _softmax_lists(logits: dict[str, torch.Tensor]) -> list[dict[str, list[float]]]:
    probs = {h: torch.softmax(v.float(), dim=-1).tolist() for h, v in logits.items()}
    n = len(next(iter(probs.values())))
    return [{h: probs[h][i] for h in probs} for i in range(n)]


def run_standard_way(
    model_dir: Path,
    texts: Sequence[str],
    *,
    threads: Sequence[int] = (1, 2),
    seconds: float = 5.0,
    max_posts: int = 2000,
    batch_size: int = 32,
    checkpoint: Path | None = None,
    literal_pipeline: bool = True,
) -> dict[str, Any]:
    """Time the standard PyTorch loop on ``texts``; returns results per thread count and mode."""
    from bench.common import peak_rss_mb, timed_chunks

    torch.set_num_interop_threads(1)
    manifest = _manifest(model_dir)
    prefix, max_length = manifest.get("query_prefix", "query: "), int(manifest["max_length"])
    module, info = torch_model_for(model_dir, texts, checkpoint=checkpoint)
    tokenizer = hf_tokenizer(model_dir)

    def step(chunk: Sequence[str]) -> object:
        with torch.inference_mode():
            return _softmax_lists(_outputs(module(**_tokenize(tokenizer, chunk, prefix, max_length))))

    lengths = {t: len(tokenizer(prefix + t, truncation=True, max_length=max_length)["input_ids"]) for t in set(texts)}
    sorted_texts = sorted(texts, key=lambda t: lengths[t])
    pipe = _literal_pipeline(module, model_dir, tokenizer, info) if literal_pipeline else None

    results: dict[str, Any] = {"model": info, "torch": torch.__version__,
                               "cpu_capability": torch.backends.cpu.get_cpu_capability(), "modes": {}}
    for t in threads:
        torch.set_num_threads(t)
        modes = {
            "one_at_a_time": timed_chunks(step, texts, 1, seconds, max_posts),
            f"batched_{batch_size}_input_order": timed_chunks(step, texts, batch_size, seconds, max_posts * 4),
            f"batched_{batch_size}_length_sorted": timed_chunks(step, sorted_texts, batch_size, seconds, max_posts * 4),
        }
        if pipe is not None:
            prefixed = [prefix + x for x in texts]
            modes["transformers_pipeline_one_at_a_time"] = timed_chunks(
                lambda c: pipe(list(c), batch_size=1, top_k=None), prefixed, 1, seconds, max_posts)
            modes[f"transformers_pipeline_batch_{batch_size}"] = timed_chunks(
                lambda c: pipe(list(c), batch_size=batch_size, top_k=None), prefixed, batch_size, seconds,
                max_posts * 4)
        results["modes"][str(t)] = modes
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def _literal_pipeline(module: nn.Module, model_dir: Path, tokenizer: Any, info: dict[str, Any]) -> Any:
    """``pipeline("text-classification")`` over a ``BertForSequenceClassification`` with our encoder."""
    try:
        from transformers import BertForSequenceClassification, pipeline

        encoder = getattr(module, "encoder", None)
        if encoder is None:
            return None
        manifest = _manifest(model_dir)
        first = manifest["schema"]["heads"][0]
        config = encoder.config
        config.num_labels = len(first["labels"])
        clf = BertForSequenceClassification(config).eval()
        clf.bert.load_state_dict(encoder.state_dict(), strict=False)
        return pipeline("text-classification", model=clf, tokenizer=tokenizer, device="cpu",
                        truncation=True, max_length=int(manifest["max_length"]))
    except Exception as exc:  # optional row: report why it is absent
        info["literal_pipeline_error"] = f"{type(exc).__name__}: {exc}"
        return None


# --------------------------------------------------------------------------------------------------
# Adapter: a training checkpoint as a triage Classifier (to evaluate a teacher that was never exported)


class CheckpointClassifier:
    """A training checkpoint folder (``model.json``, ``model.safetensors``, ``tokenizer.json``,
    ``calibration.json``) behind the ``triage.classify.base.Classifier`` interface.

    Scores like the exported model would: query prefix, truncation to the training ``max_length``,
    length-sorted batches, softmax at each head's calibrated temperature, the calibrated thresholds.
    """

    def __init__(self, folder: Path, *, threads: int = 2, batch_size: int = 32) -> None:
        from tokenizers import Tokenizer

        from training.encoder.tokenizer import QUERY_PREFIX
        from triage.artifact import ModelInfo
        from triage.schema import LabelSchema

        folder = Path(folder)
        torch.set_num_threads(threads)
        self.module = load_training_checkpoint(folder)
        ckpt = _read_json(folder / "checkpoint.json")
        calibration = _read_json(folder / "calibration.json")
        self.max_length = int((ckpt.get("config") or {}).get("max_length", 96))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.prefix = QUERY_PREFIX
        specs = list(getattr(self.module, "head_specs", []))
        self.schema = LabelSchema(name="checkpoint", heads=specs)
        self.version = f"checkpoint:{folder}"
        self.info = ModelInfo(name="checkpoint", version=self.version, schema_name=self.schema.name,
                              model_dir=str(folder))
        self.temperatures = {h.name: float((calibration.get(h.name) or {}).get("temperature", 1.0)) for h in specs}
        self.thresholds = {h.name: float((calibration.get(h.name) or {}).get("threshold", h.threshold)) for h in specs}
        self.min_margins = {h.name: float((calibration.get(h.name) or {}).get("min_margin", h.min_margin))
                            for h in specs}
        self.batch_size = batch_size

    def predict(self, texts: Sequence[str]) -> Any:
        from training.model import pad_batch
        from triage.classify.base import ClassifierOutput

        ids = [e.ids for e in self.tokenizer.encode_batch([self.prefix + t for t in texts])]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        probs = {h.name: np.zeros((len(ids), len(h.labels)), np.float32) for h in self.schema.heads}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            input_ids, mask = pad_batch([ids[i] for i in chunk])
            with torch.inference_mode():
                logits = _outputs(self.module(input_ids, mask))
            for name in probs:
                probs[name][chunk] = torch.softmax(logits[name].double() / self.temperatures[name], -1).numpy()
        return ClassifierOutput(probabilities=probs)

    def embed(self, texts: Sequence[str]) -> None:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------------------------------
# A tiny random model folder for smoke runs


def build_tiny_artifact(
    out_dir: Path,
    texts: Sequence[str],
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 2,
    intermediate: int = 128,
    vocab_size: int = 1000,
    max_length: int = 128,
    seed: int = 0,
) -> Path:
    """Write a random tiny BERT multi-head model in the artifact format (``manifest.json``, ``model.onnx``,
    ``tokenizer.json``) into ``out_dir``. Its predictions mean nothing; its shape and I/O are the real ones.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    from triage.artifact import BaseModelInfo, HeadCalibration, Manifest, write_manifest
    from triage.resources import default_schema_path
    from triage.schema import load_schema

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.save(str(out_dir / "tokenizer.json"))

    from transformers import BertConfig

    schema = load_schema(default_schema_path())
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=intermediate,
                        max_position_embeddings=max_length + 2, pad_token_id=1)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    module = TorchMultiHead(config, {h.name: len(h.labels) for h in schema.heads}).eval()
    with torch.no_grad():  # non-trivial biases and norms, so weight recovery is really exercised
        for p in module.parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.02)
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 8, 2, 1, 1]])
    mask = (ids != 1).long()
    outputs = [f"logits__{h.name}" for h in schema.heads] + ["embedding"]
    with warnings.catch_warnings():  # the TorchScript exporter's tracer warnings are about shapes we do not use
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _DictToTuple(module, outputs), (ids, mask), str(out_dir / "model.onnx"), dynamo=False,
            input_names=["input_ids", "attention_mask"], output_names=outputs, opset_version=17,
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          **{o: {0: "batch"} for o in outputs}},
        )
    manifest = Manifest(
        name="bench-tiny",
        version="0",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        schema=schema,
        heads={h.name: HeadCalibration(threshold=h.threshold, min_margin=h.min_margin) for h in schema.heads},
        max_length=max_length,
        base_model=BaseModelInfo(name="random-tiny-bert", sha256="0" * 64),
        architecture={"model_type": "bert", "num_hidden_layers": layers, "hidden_size": hidden,
                      "num_attention_heads": heads, "intermediate_size": intermediate,
                      "vocab_size": tok.get_vocab_size(), "max_position_embeddings": max_length + 2,
                      "pooling": "mean"},
        training={"note": "random weights, for benchmark smoke runs only"},
        files={"model.onnx": "", "tokenizer.json": ""},
    )
    write_manifest(out_dir, manifest)
    return out_dir


class _DictToTuple(nn.Module):
    def __init__(self, inner: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.inner = inner
        self.names = names

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.inner(input_ids, attention_mask)
        return tuple(out[n] for n in self.names)


def build_tiny_checkpoint(out_dir: Path, tokenizer_json: Path, *, layers: int = 1, hidden: int = 64, heads: int = 2,
                          intermediate: int = 128, max_length: int = 128, seed: int = 1) -> Path:
    """A random tiny *training checkpoint* (``training.model.MultiHeadModel.save`` layout, plus the
    ``tokenizer.json``, ``checkpoint.json`` and ``calibration.json`` that training writes beside it), for
    smoke runs of the teacher comparison. Needs the training package.
    """
    import shutil

    from tokenizers import Tokenizer

    from training.model import MultiHeadModel, random_encoder_config
    from triage.resources import default_schema_path
    from triage.schema import load_schema

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = Tokenizer.from_file(str(tokenizer_json)).get_vocab_size()
    torch.manual_seed(seed)
    schema = load_schema(default_schema_path())
    config = random_encoder_config(vocab, layers, hidden, heads, intermediate, max_length + 2, 0.0)
    MultiHeadModel(config, schema.heads, 0.0).save(out_dir)
    shutil.copyfile(tokenizer_json, out_dir / "tokenizer.json")
    (out_dir / "checkpoint.json").write_text(json.dumps({"kind": "teacher", "config": {"max_length": max_length}}),
                                             encoding="utf-8")
    (out_dir / "calibration.json").write_text("{}", encoding="utf-8")
    return out_dir

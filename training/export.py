"""Export a training checkpoint as the self-describing model folder that ``triage`` loads.

``export_artifact(checkpoint, out)``:

1. ``torch.onnx.export`` (TorchScript exporter, opset 17) of the network with dynamic batch and
   sequence axes: inputs ``input_ids``, ``attention_mask`` (int64), outputs ``logits__<head>`` for every
   head of the schema and ``embedding`` (L2-normalised mean pooling). Auxiliary training heads are not
   exported. A parity check against torch at several batch sizes and lengths is recorded.
2. Optionally int8 weights (symmetric, per channel / per row; compute stays fp32 so that a post
   scores the same in any batch — see :func:`training.quantize.quantize_int8`), kept only if no dev
   macro-F1 (per head, averaged over dev sources) drops by ``max_int8_drop_points`` or more, measured
   through the real runtime (``OnnxClassifier``). With ``export.int8_compute``, also static int8 compute
   (:func:`training.quantize.quantize_static_int8`), preferred when it drops less than
   ``max_int8_compute_drop_points`` and scores a post the same alone and in a batch.
3. Temperatures and thresholds are fitted on dev through the chosen ONNX model (what ships is what is
   calibrated), on the recipe's ``calibration.sources`` (the real posts) wherever they label the head.
   The kernels onnxruntime fuses the chosen file into are recorded (``onnx.runtime_kernels``).
4. Real text first: when the recipe has a ``real_labels`` source, its test split (brands never seen) is
   scored through the runtime per language and head and through the whole engine (silent errors, share
   sent to a person). Then every other test split, each beside a TF-IDF + logistic-regression baseline,
   and the model this export replaces, scored again on the same rows (``previous``). All of it, and the
   speed, goes into ``metrics.json`` (:class:`training.evaluate.Metrics`) and the model card ``README.md``;
   ``manifest.json`` (via ``triage.artifact.write_manifest``) lists every file's sha256.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.calibrate import apply_joint_thresholds, calibrate_head
from training.checkpoint import CHECKPOINT_JSON, METRICS_JSON, checkpoint_dir
from training.config import TrainConfig
from training.data import Data, encode_examples, load_data
from training.encoder.tokenizer import QUERY_PREFIX
from training.evaluate import (
    Metrics,
    PreviousModel,
    RealEvaluation,
    add_frequent_macro_f1,
    evaluate_real,
    evaluate_test_sets,
    examples_to_rows,
    labeled_heads,
    model_metrics,
    real_split_from_examples,
    real_summary,
    runtime_kernels,
    test_split_changed,
)
from training.metrics import macro_f1
from training.model import MultiHeadModel
from training.quantize import calibration_sample, quantize_int8, quantize_static_int8
from training.sources import Example
from training.train import set_threads
from triage.artifact import (
    MANIFEST,
    ONNX_FILE,
    TOKENIZER_FILE,
    BaseModelInfo,
    HeadCalibration,
    Manifest,
    write_manifest,
)
from triage.schema import LabelSchema, load_schema

log = logging.getLogger(__name__)

TRAINING_CONFIG = "training_config.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"

WEIGHTS_ONLY_SCHEME = ("weights only: symmetric int8, per output column (MatMul) and per row (embedding Gather), "
                       "stored as DequantizeLinear before fp32 MatMul")
STATIC_SCHEME = ("static int8 compute (QDQ): activations smoothed (SmoothQuant, alpha {alpha}), then uint8 with fixed "
                 "scales (MinMax over {posts} real training posts) and 7-bit symmetric int8 weights per output "
                 "channel; FFN output projections: int8 weights, fp32 compute; attention scores and the heads: "
                 "fp32; embedding table int8 per row")
# A post's probabilities alone and inside a batch may differ by float summation order only (~1e-7 measured).
BATCH_INVARIANCE_LIMIT = 1e-4


class ExportWrapper(torch.nn.Module):
    """The network with a flat output tuple: one logits tensor per exported head, then the embedding."""

    def __init__(self, model: MultiHeadModel, heads: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.head_order = list(heads)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, embedding = self.model(input_ids, attention_mask)
        return (*[logits[h] for h in self.head_order], embedding)


def output_names(heads: Sequence[str]) -> list[str]:
    return [f"logits__{h}" for h in heads] + ["embedding"]


def export_onnx(model: MultiHeadModel, heads: Sequence[str], path: Path, opset: int = 17) -> None:
    """Write ``model`` (eval mode) to ``path`` with dynamic batch and sequence axes."""
    import warnings

    wrapper = ExportWrapper(model, heads).eval()
    # Trace with padding present so the masking path is the one recorded.
    ids = torch.tensor([[0, 5, 6, 7, 8, 9, 10, 2], [0, 11, 12, 2, 1, 1, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    names = output_names(heads)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    axes.update({n: {0: "batch"} for n in names})
    with warnings.catch_warnings():
        # The TorchScript exporter warns that it is legacy and about traced Python booleans in
        # transformers' masking code, which our explicit 4-D mask bypasses (the parity check proves it).
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=names, dynamic_axes=axes, opset_version=opset, dynamo=False,
                          do_constant_folding=True)
    wrapper.model.eval()


def onnx_parity(model: MultiHeadModel, heads: Sequence[str], onnx_path: Path,
                cases: Sequence[tuple[int, int]] = ((1, 5), (3, 17), (8, 40)), seed: int = 0) -> float:
    """Max |onnx - torch| over all outputs for random padded batches of the given (batch, length)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
    wrapper = ExportWrapper(model, heads).eval()
    gen = torch.Generator().manual_seed(seed)
    vocab = model.encoder_config.vocab_size
    worst = 0.0
    for batch, length in cases:
        ids = torch.randint(4, vocab, (batch, length), generator=gen)
        mask = torch.ones_like(ids)
        for i in range(batch):  # ragged rows: every other row shorter, padded with <pad>
            n = length if i % 2 == 0 else max(2, length // 2)
            ids[i, 0], ids[i, n - 1] = 0, 2
            ids[i, n:], mask[i, n:] = 1, 0
        with torch.inference_mode():
            ref = [t.numpy() for t in wrapper(ids, mask)]
        out = session.run(output_names(heads), {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        worst = max(worst, *(float(np.abs(a - b).max()) for a, b in zip(out, ref, strict=True)))
    return worst


def batch_invariance(model_dir: Path, texts: Sequence[str], threads: int = 1) -> float:
    """Max |p(text in a batch) - p(text alone)| over heads, for the runtime in ``model_dir``."""
    from triage.classify.onnx_model import OnnxClassifier

    clf = OnnxClassifier(model_dir, threads=threads, batch_size=len(texts))
    batch = clf.predict(list(texts)).probabilities
    worst = 0.0
    for i, text in enumerate(texts):
        one = clf.predict([text]).probabilities
        worst = max(worst, *(float(np.abs(one[h][0] - batch[h][i]).max()) for h in batch))
    return worst


def _recall(z: np.ndarray, y: np.ndarray, k: int, offset: float) -> float:
    """Recall of class ``k`` when its logit is raised by ``offset``."""
    shifted = z.copy()
    shifted[:, k] += offset
    pred = shifted.argmax(axis=1)
    return float((pred[y == k] == k).mean()) if (y == k).any() else 1.0


def apply_recall_targets(model: MultiHeadModel, dev: dict[str, list[Example]], config: TrainConfig,
                         batch_size: int = 64) -> dict[str, Any]:
    """For each recall target, add to that label's head bias the smallest offset reaching the dev recall.

    The offset moves the argmax decision toward the label (trading its precision for recall) and is part
    of the exported network, so every consumer of the model sees the same decision. Tuned on dev only.
    """
    from training.loop import predict_logits

    report: dict[str, Any] = {}
    if not config.export.recall_targets:
        return report
    logits = {name: predict_logits(model, rows, batch_size) for name, rows in dev.items()}
    for target in config.export.recall_targets:
        spec = next((h for h in model.head_specs if h.name == target.head), None)
        if spec is None or target.label not in spec.labels:
            raise ValueError(f"recall target {target.head}/{target.label} is not a head/label of the model")
        k = spec.labels.index(target.label)
        zs, ys = [], []
        for name, rows in dev.items():
            sel = [i for i, e in enumerate(rows) if target.head in e.labels]
            if sel:
                zs.append(logits[name][target.head][sel])
                ys.append(np.array([rows[i].labels[target.head] for i in sel]))
        if not zs:
            continue
        z, y = np.concatenate(zs), np.concatenate(ys)

        offset = 0.0
        for candidate in np.arange(0.0, target.max_offset + 1e-9, 0.05):
            offset = float(candidate)
            if _recall(z, y, k, offset) >= target.min_recall:
                break
        shifted = z.copy()
        shifted[:, k] += offset
        report.setdefault(target.head, {})[target.label] = {
            "offset": round(offset, 3), "min_recall": target.min_recall, "dev_recall_before": _recall(z, y, k, 0.0),
            "dev_recall_after": _recall(z, y, k, offset), "dev_macro_f1_before": macro_f1(y, z.argmax(axis=1)),
            "dev_macro_f1_after": macro_f1(y, shifted.argmax(axis=1)), "n_dev": int((y == k).sum()),
        }
        layer = model.heads[target.head]
        assert isinstance(layer, torch.nn.Linear)
        with torch.no_grad():
            layer.bias[k] += offset
        log.info("decision offset %s/%s = %.2f: dev recall %.3f -> %.3f", target.head, target.label, offset,
                 _recall(z, y, k, 0.0), _recall(z, y, k, offset))
    return report


# The folder ---------------------------------------------------------------------------------------------------


def _libraries() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "tokenizers", "onnx", "onnxruntime", "safetensors", "numpy", "datasets",
                 "scikit-learn"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[name] = md.version(name)
    return out


def build_manifest(schema: LabelSchema, calibration: dict[str, Any], ckpt: dict[str, Any], config: TrainConfig,
                   onnx_info: dict[str, Any], files: Sequence[str]) -> Manifest:
    heads = {}
    for h in schema.heads:
        c = calibration.get(h.name, {})
        heads[h.name] = HeadCalibration(temperature=float(c.get("temperature", 1.0)),
                                        threshold=float(c.get("threshold", h.threshold)),
                                        min_margin=float(c.get("min_margin", h.min_margin)))
    base = ckpt["base_model"]
    return Manifest(
        name=config.export.name,
        version=config.export.version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        schema=schema,
        heads=heads,
        max_length=config.max_length,
        query_prefix=QUERY_PREFIX,
        base_model=BaseModelInfo(**{k: v for k, v in base.items() if not k.startswith("_")}),
        architecture=ckpt["architecture"],
        training={"config_file": TRAINING_CONFIG, "recipe": config.name, "kind": ckpt["kind"],
                  "data_sha256": ckpt["data"], "counts": ckpt["counts"], "best_epoch": ckpt["best_epoch"]},
        libraries=_libraries(),
        onnx=onnx_info,
        files={name: "" for name in files},
    )


def assemble(folder: Path, onnx_path: Path, tokenizer_path: Path, schema: LabelSchema, calibration: dict[str, Any],
             ckpt: dict[str, Any], config: TrainConfig, onnx_info: dict[str, Any],
             extra_files: dict[str, str] | None = None) -> Path:
    """Write a loadable model folder: model.onnx, tokenizer.json, training_config.json, extras, manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    if onnx_path.resolve() != (folder / ONNX_FILE).resolve():
        shutil.copyfile(onnx_path, folder / ONNX_FILE)
    shutil.copyfile(tokenizer_path, folder / TOKENIZER_FILE)
    (folder / TRAINING_CONFIG).write_text(json.dumps(ckpt["config"], indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    files = [ONNX_FILE, TOKENIZER_FILE, TRAINING_CONFIG, *(extra_files or {})]
    write_manifest(folder, build_manifest(schema, calibration, ckpt, config, onnx_info, files))
    return folder


def runtime_logits(model_dir: Path, examples: Sequence[Example], threads: int = 2) -> dict[str, np.ndarray]:
    """Per-head log-probabilities at temperature 1 through the real runtime (equal to logits up to a row shift)."""
    from triage.classify.onnx_model import OnnxClassifier

    clf = OnnxClassifier(model_dir, threads=threads, batch_size=64)
    if any(c.temperature != 1.0 for c in clf.manifest.heads.values()):
        raise ValueError(f"{model_dir} is calibrated; runtime_logits needs a temperature-1 candidate folder")
    out = clf.predict([e.text for e in examples])
    return {h: np.log(np.clip(p, 1e-30, None)) for h, p in out.probabilities.items()}


def dev_scores(model_dir: Path, dev: dict[str, list[Example]], heads: Sequence[str], threads: int) -> tuple[dict, dict]:
    """({source: {head: macro_f1, accuracy}}, {source: logits}) through the runtime, for exported heads."""
    scores: dict[str, dict[str, dict[str, float]]] = {}
    logits_by_source = {}
    for name, rows in dev.items():
        logits = runtime_logits(model_dir, rows, threads)
        logits_by_source[name] = logits
        for head in heads:
            sel = [i for i, e in enumerate(rows) if head in e.labels]
            if sel:
                y = np.array([rows[i].labels[head] for i in sel])
                pred = logits[head][sel].argmax(axis=1)
                scores.setdefault(name, {})[head] = {"n": len(sel), "macro_f1": macro_f1(y, pred),
                                                     "accuracy": float((pred == y).mean())}
    return scores, logits_by_source


def per_head_f1(scores: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """Dev macro-F1 per head, averaged over the dev sources that label it."""
    heads = sorted({h for per in scores.values() for h in per})
    return {h: float(np.mean([per[h]["macro_f1"] for per in scores.values() if h in per])) for h in heads}


def max_drop_points(ref: dict, new: dict) -> float:
    """Largest per-head drop (points) of dev macro-F1 (averaged over dev sources) from ``ref`` to ``new``.

    Per head rather than per (source, head): one example of a 170-row dev set is already 0.3 points.
    """
    a, b = per_head_f1(ref), per_head_f1(new)
    return max((100.0 * (a[h] - b[h]) for h in a if h in b), default=0.0)


def measure_speed(model_dir: Path, texts: Sequence[str], threads: int, batch_size: int = 32,
                  min_seconds: float = 3.0) -> dict[str, float]:
    """Posts per second through OnnxClassifier on ``texts`` (batched), after one warm-up pass."""
    from triage.classify.onnx_model import OnnxClassifier

    clf = OnnxClassifier(model_dir, threads=threads, batch_size=batch_size)
    texts = list(texts)
    clf.predict(texts[:batch_size])
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        clf.predict(texts)
        n += len(texts)
    seconds = time.perf_counter() - start
    lengths = [len(x) for x in clf.encode(texts)]
    single_start = time.perf_counter()
    for t in texts[:50]:
        clf.predict([t])
    single_ms = 1000 * (time.perf_counter() - single_start) / min(50, len(texts))
    return {"threads": threads, "batch_size": batch_size, "posts_per_second": n / seconds,
            "mean_tokens": float(np.mean(lengths)), "single_post_ms": single_ms}


# The steps of an export ---------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """A checkpoint ready to export: its description, recipe, schema, network and tokenizer."""

    ckpt_dir: Path
    ckpt: dict[str, Any]
    config: TrainConfig
    schema: LabelSchema
    model: MultiHeadModel
    tokenizer_path: Path


@dataclass
class Candidate:
    """One ONNX file that could ship (fp32 or int8), scored on dev through the runtime at temperature 1."""

    onnx: Path
    dev: dict[str, Any]
    logits: dict[str, dict[str, np.ndarray]]
    bytes: int
    batch_invariance: float


def load_checkpoint(checkpoint: Path, recipe: Path | None = None, name: str | None = None,
                    max_int8_drop: float | None = None) -> Loaded:
    """The checkpoint, with ``recipe``'s ``calibration`` and ``export`` sections when given (how to calibrate
    and export can change after training; what was trained cannot), the artifact called ``name``, and int8 kept
    when it costs less than ``max_int8_drop`` dev macro-F1 points (default: the recipe's limit)."""
    ckpt_dir = checkpoint_dir(Path(checkpoint))
    ckpt = json.loads((ckpt_dir / CHECKPOINT_JSON).read_text(encoding="utf-8"))
    config = TrainConfig.model_validate(ckpt["config"])
    if recipe is not None:
        from training.config import load_config

        newer = load_config(recipe)
        config = config.model_copy(update={"calibration": newer.calibration, "export": newer.export})
    changes: dict[str, Any] = {"name": name, "max_int8_drop_points": max_int8_drop}
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        config = config.model_copy(update={"export": config.export.model_copy(update=changes)})
    model = MultiHeadModel.load(ckpt_dir, attn_implementation="eager")
    return Loaded(ckpt_dir, ckpt, config, load_schema(config.schema_path), model, ckpt_dir / TOKENIZER_FILE)


def load_export_data(loaded: Loaded) -> tuple[Data, dict[str, list[Example]]]:
    """Every source of the recipe, tokenised as the runtime does, and the dev sources that label an exported head."""
    from tokenizers import Tokenizer

    data = load_data(loaded.config)
    encode_examples(data.all_examples(), Tokenizer.from_file(str(loaded.tokenizer_path)), loaded.config.max_length)
    heads = loaded.schema.head_names
    dev = {s: rows for s, rows in data.dev.items() if any(h in e.labels for e in rows for h in heads)}
    return data, dev


def onnx_files(loaded: Loaded, tmp: Path, want_int8: bool, offsets: dict[str, Any],
               data: Data | None = None) -> tuple[dict[str, Path], dict[str, Any]]:
    """The fp32 ONNX file (parity-checked against torch) and, when asked, its int8 twins (weights only, and
    static int8 compute when the recipe's ``export.int8_compute`` is on and ``data`` has training posts)."""
    config, heads = loaded.config, loaded.schema.head_names
    fp32 = tmp / "fp32.onnx"
    t0 = time.perf_counter()
    export_onnx(loaded.model, heads, fp32, config.export.opset)
    parity = onnx_parity(loaded.model, heads, fp32)
    log.info("ONNX export %.1fs, max |onnx - torch| = %.2e", time.perf_counter() - t0, parity)
    info: dict[str, Any] = {"opset": config.export.opset, "exporter": "torch.onnx (TorchScript)",
                            "inputs": ["input_ids", "attention_mask"], "outputs": output_names(heads),
                            "parity_max_abs_diff_fp32": parity, "decision_offsets": offsets}
    files = {"fp32": fp32}
    if want_int8:
        files["int8"] = tmp / "int8.onnx"
        info["int8_quantised"] = quantize_int8(fp32, files["int8"], config.export.int8_min_elements)
        # What the file stores; which kernels onnxruntime fuses it into is measured apart (runtime_kernels).
        info["int8_scheme"] = WEIGHTS_ONLY_SCHEME
    if want_int8 and config.export.int8_compute and data is not None:
        files["int8_static"] = tmp / "int8_static.onnx"
        posts = calibration_posts(data, config)
        info["int8_static_quantised"] = quantize_static_int8(
            fp32, files["int8_static"], posts, keep_float=config.export.int8_compute_keep_float,
            min_elements=config.export.int8_min_elements, smooth_alpha=config.export.int8_compute_smooth_alpha)
        info["int8_static_calibration_posts"] = len(posts)
    return files, info


def calibration_posts(data: Data, config: TrainConfig) -> list[list[int]]:
    """Token ids of the posts that calibrate static int8: the real sources' training posts, else every one."""
    real = [s.name for s in config.sources if s.kind == "real_labels" and data.train.get(s.name)]
    names = real or sorted(data.train)
    ids = [e.ids for name in names for e in data.train[name] if e.ids]
    return calibration_sample(ids, config.export.int8_calibration_posts, config.seed)


def score_candidates(loaded: Loaded, files: dict[str, Path], info: dict[str, Any], dev: dict[str, list[Example]],
                     tmp: Path, threads: int) -> dict[str, Candidate]:
    out = {}
    probe = [e.text for rows in dev.values() for e in rows[:4]][:12] or ["hello", "שלום"]
    for name, path in files.items():
        # Candidates carry temperature 1: their log-probabilities are the logits calibration needs.
        folder = assemble(tmp / name, path, loaded.tokenizer_path, loaded.schema, {}, loaded.ckpt, loaded.config, info)
        scores, logits = dev_scores(folder, dev, loaded.schema.head_names, threads)
        out[name] = Candidate(path, scores, logits, (folder / ONNX_FILE).stat().st_size,
                              batch_invariance(folder, probe))
        log.info("%s: %.1f MB, dev %s", name, out[name].bytes / 1e6,
                 {s: {h: round(m["macro_f1"], 4) for h, m in per.items()} for s, per in scores.items()})
    return out


def choose_weights(candidates: dict[str, Candidate], info: dict[str, Any], config: TrainConfig) -> str:
    """Static int8 compute when it costs less than ``max_int8_compute_drop_points`` dev macro-F1 on every head
    and scores a post the same in any batch; else int8 weights when they cost less than
    ``max_int8_drop_points``; else fp32. Every candidate's drop is recorded."""
    chosen = "fp32"
    if "int8" in candidates:
        drop = max_drop_points(candidates["fp32"].dev, candidates["int8"].dev)
        info["int8_max_dev_drop_points"] = round(drop, 3)
        if drop < config.export.max_int8_drop_points:
            chosen = "int8"
        else:
            log.warning("int8 costs %.2f dev macro-F1 points (limit %.2f): shipping fp32", drop,
                        config.export.max_int8_drop_points)
    if "int8_static" in candidates:
        static = candidates["int8_static"]
        drop = max_drop_points(candidates["fp32"].dev, static.dev)
        info["int8_static_max_dev_drop_points"] = round(drop, 3)
        info["int8_static_batch_vs_single_max_abs_diff"] = static.batch_invariance
        if drop < config.export.max_int8_compute_drop_points and static.batch_invariance < BATCH_INVARIANCE_LIMIT:
            chosen = "int8_static"
        else:
            log.warning("static int8 costs %.2f dev macro-F1 points (limit %.2f), batch variance %.1e: not shipped",
                        drop, config.export.max_int8_compute_drop_points, static.batch_invariance)
    if chosen == "int8_static":
        info["int8_scheme"] = STATIC_SCHEME.format(posts=info.get("int8_static_calibration_posts"),
                                                   alpha=config.export.int8_compute_smooth_alpha)
        info["int8_quantised"] = info["int8_static_quantised"]
    info["weights"] = chosen
    info["bytes"] = candidates[chosen].bytes
    info["batch_vs_single_max_abs_diff"] = candidates[chosen].batch_invariance
    info["runtime_kernels"] = runtime_kernels(candidates[chosen].onnx)
    return chosen


def calibrate_runtime(schema: LabelSchema, logits: dict[str, dict[str, np.ndarray]], dev: dict[str, list[Example]],
                      config: TrainConfig) -> dict[str, Any]:
    """Temperatures and thresholds through the model that ships, on the recipe's calibration sources.

    The same rule as training.calibrate: the preferred dev sources (the real posts) where they label the
    head, else every dev source that does, so that thresholds are tuned on real text whenever it can be.
    """
    preferred = config.calibration.sources
    calibration = {}
    for h in schema.heads:
        labeled = [s for s, rows in dev.items() if any(h.name in e.labels for e in rows)]
        names = [s for s in labeled if preferred is None or s in preferred] or labeled
        ls, ys = [], []
        for s in names:
            sel = [i for i, e in enumerate(dev[s]) if h.name in e.labels]
            ls.append(logits[s][h.name][sel])
            ys.append(np.array([dev[s][i].labels[h.name] for i in sel]))
        if ls:
            calibration[h.name] = calibrate_head(np.concatenate(ls), np.concatenate(ys), config.calibration)
        else:
            calibration[h.name] = {"temperature": 1.0, "threshold": h.threshold}
        calibration[h.name] |= {"min_margin": h.min_margin, "dev_sources": names}
    apply_joint_thresholds(calibration, logits, dev, [h.name for h in schema.heads], config.calibration)
    return calibration


def training_facts(loaded: Loaded) -> dict[str, Any]:
    """What training measured (speed, epochs, teacher comparison) for metrics.json."""
    train_metrics = json.loads((loaded.ckpt_dir / METRICS_JSON).read_text(encoding="utf-8"))
    out = {k: train_metrics[k] for k in ("teacher_dev", "delta_points_vs_teacher", "within_tolerance",
                                         "examples_per_second", "train_seconds", "best_epoch", "parameters")
           if k in train_metrics}
    teacher = loaded.ckpt_dir.parent / "teacher" / METRICS_JSON
    if loaded.ckpt["kind"] == "student" and teacher.is_file():
        t = json.loads(teacher.read_text(encoding="utf-8"))
        out["teacher"] = {k: t.get(k) for k in ("examples_per_second", "train_seconds", "best_epoch", "parameters")}
    return out


def _sources_of(config: TrainConfig, kind: str, data: dict[str, list[Example]]) -> list[str]:
    return [s.name for s in config.sources if s.kind == kind and s.name in data]


def evaluate_previous(previous_dir: Path | None, data: Data, config: TrainConfig, threads: int) -> PreviousModel | None:
    """The model this export replaces, on this run's written and real test splits (so the rows are the same).

    Run before the new folder overwrites it. A folder that does not load (another schema, a broken file) is
    skipped with a warning: the comparison is a report, not a gate.
    """
    if previous_dir is None or not (Path(previous_dir) / MANIFEST).is_file():
        return None
    from triage.classify.onnx_model import OnnxClassifier

    try:
        clf = OnnxClassifier(Path(previous_dir), threads=threads, batch_size=64)
    except Exception as exc:  # any failure means "no comparison", never a failed export
        log.warning("previous model %s not compared: %s", previous_dir, exc)
        return None
    test = {}
    for name in _sources_of(config, "corpus", data.test) + _sources_of(config, "real_labels", data.test):
        rows = examples_to_rows(data.test[name], clf.schema.heads)
        heads = labeled_heads(rows, clf.schema)
        if heads:
            per_head = model_metrics(clf, rows, heads)
            add_frequent_macro_f1(per_head)
            test[name] = {"n": len(rows), "model": per_head}
    changed = [s.name for s in config.sources if s.kind == "corpus" and s.name in test
               and test_split_changed(Path(previous_dir), s.path / "test.jsonl")]
    return PreviousModel(model=clf.version, dir=str(previous_dir), test=test, test_split_changed=changed)


def evaluate_exported(out_dir: Path, data: Data, loaded: Loaded, threads: int) -> tuple[dict[str, Any],
                                                                                        RealEvaluation | None]:
    """Every test split through the runtime; the real one also through the engine (silent errors).

    The real split's TF-IDF baseline trains on the real and the written training splits, as bench/accuracy's.
    """
    config, schema = loaded.config, loaded.schema
    real_names = _sources_of(config, "real_labels", data.test)
    test = evaluate_test_sets(out_dir, data, schema, threads=threads, skip=real_names)
    if not real_names:
        return test, None
    name = real_names[0]
    train = [e for s in [name, *_sources_of(config, "corpus", data.train)] for e in data.train.get(s, [])]
    split = real_split_from_examples("test", data.test[name], schema.heads)
    real = evaluate_real(out_dir, split, threads=threads, baseline_train=examples_to_rows(train, schema.heads))
    return test, real


def write_card_and_metrics(out_dir: Path, metrics: Metrics, loaded: Loaded, calibration: dict[str, Any]) -> None:
    """metrics.json and README.md, then the manifest again so that it lists (and hashes) them."""
    from training.card import model_card

    onnx_info = metrics.onnx
    card = model_card(metrics, loaded.ckpt, loaded.config, loaded.schema, onnx_info)
    raw = metrics.model_dump(mode="python", exclude_none=True)
    (out_dir / METRICS_FILE).write_text(json.dumps(raw, indent=2, ensure_ascii=False, default=_jsonable) + "\n",
                                        encoding="utf-8")
    (out_dir / CARD_FILE).write_text(card, encoding="utf-8")
    files = [ONNX_FILE, TOKENIZER_FILE, TRAINING_CONFIG, METRICS_FILE, CARD_FILE]
    write_manifest(out_dir, build_manifest(loaded.schema, calibration, loaded.ckpt, loaded.config, onnx_info, files))


# Entry point --------------------------------------------------------------------------------------------------


def export_artifact(checkpoint: Path, out_dir: Path, *, int8: bool | None = None, evaluate_test: bool | None = None,
                    threads: int = 2, previous: Path | None = None, recipe: Path | None = None,
                    name: str | None = None, max_int8_drop: float | None = None) -> dict[str, Any]:
    """Export ``checkpoint`` (a checkpoint folder or a run folder) into the model folder ``out_dir``.

    ``previous``: the model folder to compare with on the test splits (default: what ``out_dir`` holds now,
    which this export replaces); ``name``: the artifact's name instead of the recipe's; ``max_int8_drop``: the
    recipe's ``export.max_int8_drop_points`` for this export. Returns metrics.json's content.
    """
    set_threads(threads)
    loaded = load_checkpoint(checkpoint, recipe, name, max_int8_drop)
    config, out_dir = loaded.config, Path(out_dir)
    do_test = config.export.evaluate_test if evaluate_test is None else evaluate_test
    data, dev = load_export_data(loaded)
    before = evaluate_previous(previous or out_dir, data, config, threads) if do_test else None
    offsets = apply_recall_targets(loaded.model, dev, config, config.optim.eval_batch_size)
    with tempfile.TemporaryDirectory(prefix="triage-export-") as tmp_name:
        tmp = Path(tmp_name)
        files, onnx_info = onnx_files(loaded, tmp, config.export.int8 if int8 is None else int8, offsets, data)
        candidates = score_candidates(loaded, files, onnx_info, dev, tmp, threads)
        chosen = choose_weights(candidates, onnx_info, config)
        calibration = calibrate_runtime(loaded.schema, candidates[chosen].logits, dev, config)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        assemble(out_dir, candidates[chosen].onnx, loaded.tokenizer_path, loaded.schema, calibration, loaded.ckpt,
                 config, onnx_info)
    metrics = Metrics(model=f"{config.export.name}@{config.export.version}", kind=loaded.ckpt["kind"],
                      calibration=calibration, dev={n: c.dev for n, c in candidates.items()},
                      dev_torch=loaded.ckpt.get("dev"), onnx=onnx_info, previous=before, **training_facts(loaded))
    if do_test:
        metrics.test, metrics.real = evaluate_exported(out_dir, data, loaded, threads)
        metrics.real_test = real_summary(metrics.real) if metrics.real else {}
    if config.export.measure_speed:
        speed_texts = [e.text for rows in data.test.values() for e in rows][:512] or ["hello"]
        metrics.speed = [measure_speed(out_dir, speed_texts, n) for n in (1, 2)]
    write_card_and_metrics(out_dir, metrics, loaded, calibration)
    log.info("exported %s (%s, %.1f MB) to %s", loaded.ckpt["kind"], chosen, onnx_info["bytes"] / 1e6, out_dir)
    return metrics.model_dump(mode="python", exclude_none=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

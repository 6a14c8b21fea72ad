"""Distillation: a shallower student that mimics the fine-tuned teacher.

The student keeps the teacher's (trimmed) embeddings, a subset of its layers (``distill.layers``, e.g.
every other one) and its heads, then trains on

    alpha * T² * KL(softmax(teacher / T) || softmax(student / T))   summed over every head
  + (1 - alpha) * masked, class-weighted cross-entropy on the hard labels it has

over the labeled training texts plus unlabeled texts (sources marked ``distill_only`` or without
labels). The teacher's logits are computed once, up front. The student is accepted only when its dev
macro-F1 stays within ``max_drop_points`` of the teacher's on every (dev source, public head).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from training.checkpoint import CHECKPOINT_JSON, METRICS_JSON
from training.config import TrainConfig
from training.data import Batch, Data
from training.finish import finish_checkpoint
from training.loop import FitSpec, fit, predict_logits, resolve_device
from training.losses import class_weights, kd_loss, masked_cross_entropy
from training.model import MultiHeadModel, student_from_teacher
from training.sources import Example

log = logging.getLogger(__name__)


def attach_teacher_logits(teacher: MultiHeadModel, examples: list[Example], batch_size: int) -> None:
    logits = predict_logits(teacher, examples, batch_size, desc="teacher logits")
    for i, ex in enumerate(examples):
        ex.soft = {h: logits[h][i].tolist() for h in logits}


def compare(teacher: dict[str, dict[str, dict[str, float]]], student: dict[str, dict[str, dict[str, float]]],
            public: set[str], max_drop: float) -> tuple[bool, dict[str, dict[str, float]]]:
    """Per (source, public head): student minus teacher dev macro-F1, in points; and whether all are within."""
    deltas: dict[str, dict[str, float]] = {}
    ok = True
    for source, per in teacher.items():
        for head, m in per.items():
            if head not in public or head not in student.get(source, {}):
                continue
            d = 100.0 * (student[source][head]["macro_f1"] - m["macro_f1"])
            deltas.setdefault(source, {})[head] = round(d, 2)
            ok = ok and d >= -max_drop
    return ok, deltas


def distill(config: TrainConfig, data: Data, teacher_dir: Path, out_dir: Path, tokenizer_path: Path,
            base_info: dict[str, Any], *, resume: bool = False) -> dict[str, Any]:
    """Distil ``teacher_dir`` into ``out_dir``; returns the student's metrics report (with the comparison)."""
    d = config.distill
    if resume and (out_dir / CHECKPOINT_JSON).is_file():
        return json.loads((out_dir / METRICS_JSON).read_text(encoding="utf-8"))
    teacher = MultiHeadModel.load(teacher_dir).to(resolve_device(config.optim.device))
    teacher_metrics = json.loads((teacher_dir / METRICS_JSON).read_text(encoding="utf-8"))
    # The student sees every labeled training text and the unlabeled ones; capped sources stay capped.
    pool = {name: list(rows) for name, rows in data.train.items()}
    if data.unlabeled:
        pool["_unlabeled"] = list(data.unlabeled)
    everything = [e for rows in pool.values() for e in rows]
    log.info("distill: teacher logits for %d texts", len(everything))
    attach_teacher_logits(teacher, everything, config.optim.eval_batch_size)

    torch.manual_seed(config.seed)
    student = student_from_teacher(teacher, d.layers)
    del teacher
    cw = class_weights(data.train, data.heads, config.optim.class_weighting, config.optim.max_class_weight,
                       config.optim.class_weights_per_source)
    weights = {s.name: s.weight for s in config.sources}

    def loss(logits: dict[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        assert batch.soft is not None
        return d.alpha * kd_loss(logits, batch.soft, d.temperature) + (1 - d.alpha) * masked_cross_entropy(logits,
                                                                                                           batch, cw)

    o = config.optim
    spec = FitSpec("student", d.epochs, d.batch_size, d.lr, d.head_lr, o.weight_decay, o.warmup_ratio, o.grad_clip,
                   d.patience, d.max_minutes, o.freeze_embeddings, o.bucket_batches, o.eval_batch_size, config.seed + 1,
                   tuple(o.select_on) if o.select_on else None, o.precision)
    result = fit(student, pool, data.caps, data.dev, weights, loss, spec, out_dir, resume)
    public = {h.name for h in data.heads if not h.auxiliary}
    extra = {"student_layers": list(d.layers), "teacher_dev": teacher_metrics["dev"],
             "parameters": sum(p.numel() for p in student.parameters())}
    finished = finish_checkpoint(student, out_dir, config, data, "student", result, tokenizer_path, base_info, extra)
    ok, deltas = compare(teacher_metrics["dev"], finished["dev"], public, d.max_drop_points)
    report = json.loads((out_dir / METRICS_JSON).read_text(encoding="utf-8"))
    report.update({"within_tolerance": ok, "delta_points_vs_teacher": deltas, "max_drop_points": d.max_drop_points})
    (out_dir / METRICS_JSON).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    worst = min((v for per in deltas.values() for v in per.values()), default=0.0)
    log.info("student vs teacher (dev macro-F1 points): %s; worst %.2f; %s", deltas, worst,
             "accepted" if ok else "NOT within tolerance")
    for rows in pool.values():  # free the soft targets
        for e in rows:
            e.soft = None
    return report


__all__ = ["compare", "distill"]

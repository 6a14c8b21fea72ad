"""The recipe: ``train(config, out_dir) -> TrainResult``, one stage after another.

Stages (each resumable with ``resume=True``; ``stage`` runs one of them or ``all``):

1. **adapt** — continued masked-language-model training of the encoder on the unlabeled real pool
   (``training.pretrain``), when ``adapt.enabled``;
2. **teacher** — fine-tune the (adapted) encoder with one head per schema head (``training.loop``);
3. **self-train** — the teacher pseudo-labels the real pool, a new teacher trains with those labels
   too (``training.selftrain``), when ``self_train.enabled``; kept only if it is better on dev;
4. **student** — distil a shallower student from the final teacher (``training.distill``).

Run folder::

    OUT/
      run.json            config, which checkpoint is final, timings
      tokenizer.json      the trimmed tokenizer shared by every model of the run
      adapted/            the adapted encoder and adapt.json (loss, held-out MLM accuracy before/after)
      teacher/            best weights, tokenizer.json, checkpoint.json, metrics.json, calibration.json, state/
      pseudo/round1/      pseudo_labels.jsonl and stats.json;  teacher_st1/: the self-trained teacher
      student/            the distilled student

``triage export OUT ARTIFACT`` writes the model folder of the final checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.checkpoint import CHECKPOINT_JSON, METRICS_JSON, RUN_JSON, write_json
from training.config import SourceConfig, TrainConfig, config_dump
from training.data import encode_examples
from training.finish import finish_checkpoint, summary_table
from training.loop import FitSpec, fit, resolve_device
from training.losses import class_weights, masked_cross_entropy
from training.model import MultiHeadModel, from_e5, random_encoder_config
from training.prepare import Prepared, prepare
from training.sources import load_source
from triage.errors import ConfigError
from triage.schema import HeadSpec

log = logging.getLogger(__name__)
STAGES = ("all", "adapt", "teacher", "self-train", "student")


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


def build_model(config: TrainConfig, heads: Sequence[HeadSpec], prep: Prepared, out_dir: Path) -> MultiHeadModel:
    """The starting network: e5 (adapted when this run adapted it) or a small random BERT, on the device."""
    from training.pretrain import load_adapted

    enc = config.encoder
    torch.manual_seed(config.seed)
    if enc.init == "e5_small":
        assert prep.base_dir is not None
        model = from_e5(prep.base_dir, prep.kept, heads, enc.dropout, enc.head_dropout, config.seed)
    else:
        assert enc.num_layers is not None
        cfg = random_encoder_config(prep.tokenizer.get_vocab_size(), enc.num_layers, enc.hidden_size,
                                    enc.num_attention_heads, enc.intermediate_size, max(config.max_length, 64),
                                    enc.dropout)
        model = MultiHeadModel(cfg, heads, enc.head_dropout)
    if config.adapt.enabled and load_adapted(model, out_dir):
        log.info("starting from the adapted encoder in %s", out_dir / "adapted")
    return model.to(resolve_device(config.optim.device))


def fit_spec(config: TrainConfig, name: str) -> FitSpec:
    o = config.optim
    return FitSpec(name, o.epochs, o.batch_size, o.lr, o.head_lr, o.weight_decay, o.warmup_ratio, o.grad_clip,
                   o.patience, o.max_minutes, o.freeze_embeddings, o.bucket_batches, o.eval_batch_size, config.seed,
                   tuple(o.select_on) if o.select_on else None, o.precision)


# Stages -------------------------------------------------------------------------------------------------------


def run_adapt(config: TrainConfig, prep: Prepared, out_dir: Path, resume: bool) -> dict[str, Any] | None:
    """Stage 1: MLM on every training text (labeled train splits and the unlabeled pool), never dev or test."""
    from training.pretrain import ADAPTED_DIR, ENCODER_WEIGHTS, adapt_encoder

    if not config.adapt.enabled:
        return None
    report_path = out_dir / ADAPTED_DIR / "adapt.json"
    if resume and (out_dir / ADAPTED_DIR / ENCODER_WEIGHTS).is_file() and report_path.is_file():
        return json.loads(report_path.read_text(encoding="utf-8"))
    model = build_model(config.model_copy(update={"adapt": config.adapt.model_copy(update={"enabled": False})}),
                        prep.data.heads, prep, out_dir)
    texts = [e.ids for rows in prep.data.train.values() for e in rows] + [e.ids for e in prep.data.unlabeled]
    protect = len(prep.tokenizer.encode("query: ", add_special_tokens=False).ids)
    mask_id = prep.tokenizer.token_to_id("<mask>")
    return adapt_encoder(model, texts, config.adapt, out_dir, protect, config.seed,
                         3 if mask_id is None else mask_id)


def run_teacher(config: TrainConfig, prep: Prepared, folder: Path, resume: bool,
                train: dict[str, list] | None = None) -> dict[str, Any]:
    """Stage 2 (and each self-training round): fine-tune a teacher into ``folder``; its metrics report."""
    data = prep.data
    pool = train if train is not None else data.train
    if not (resume and (folder / CHECKPOINT_JSON).is_file()):
        model = build_model(config, data.heads, prep, folder.parent)
        n_params = sum(p.numel() for p in model.parameters())
        log.info("%s: %d layers, %d parameters, %d train examples per epoch", folder.name,
                 model.encoder_config.num_hidden_layers, n_params,
                 sum(min(len(v), data.caps.get(k) or len(v)) for k, v in pool.items()))
        weights = {s.name: s.weight for s in config.sources} | {"pseudo": config.self_train.weight}
        cw = class_weights(pool, data.heads, config.optim.class_weighting, config.optim.max_class_weight,
                           config.optim.class_weights_per_source)
        result = fit(model, pool, data.caps, data.dev, weights,
                     lambda logits, batch: masked_cross_entropy(logits, batch, cw), fit_spec(config, folder.name),
                     folder, resume)
        finish_checkpoint(model, folder, config, data, "teacher", result, prep.tokenizer_path, prep.base_info,
                          {"parameters": n_params,
                           "class_weights": {s: {h: w.tolist() for h, w in per.items()} for s, per in cw.items()}})
    if not (folder / CHECKPOINT_JSON).is_file():
        raise ConfigError(f"no finished teacher in {folder}: run stage 'teacher' first")
    return json.loads((folder / METRICS_JSON).read_text(encoding="utf-8"))


def run_self_training(config: TrainConfig, prep: Prepared, out_dir: Path, teacher_dir: Path,
                      resume: bool) -> tuple[Path, list[dict[str, Any]]]:
    """Stage 3: rounds of pseudo-labeling; returns the best teacher folder (by dev score) and each round's report."""
    from training.selftrain import pseudo_label, write_pseudo_labels

    best_dir = teacher_dir
    best = json.loads((teacher_dir / METRICS_JSON).read_text(encoding="utf-8"))
    rounds = []
    for r in range(1, config.self_train.rounds + 1):
        folder = out_dir / f"pseudo/round{r}"
        if not (resume and (folder / "pseudo_labels.jsonl").is_file()):
            teacher = MultiHeadModel.load(best_dir).to(resolve_device(config.optim.device))
            calibration = json.loads((best_dir / "calibration.json").read_text(encoding="utf-8"))
            rows = pseudo_label(teacher, prep.data.unlabeled, calibration, config.self_train,
                                config.optim.eval_batch_size)
            write_pseudo_labels(rows, folder)
            del teacher
        source = SourceConfig(name="pseudo", kind="pseudo_labels", path=folder, per_epoch=config.self_train.per_epoch,
                              weight=config.self_train.weight)
        pseudo = load_source(source, prep.data.heads, config.seed)["train"]
        encode_examples(pseudo, prep.tokenizer, config.max_length)
        prep.data.caps["pseudo"] = config.self_train.per_epoch
        report = run_teacher(config, prep, out_dir / f"teacher_st{r}", resume, {**prep.data.train, "pseudo": pseudo})
        rounds.append({"round": r, "pseudo_rows": len(pseudo), "dev_score": report["dev_score"],
                       "previous_dev_score": best["dev_score"], "dev": report["dev"]})
        if report["dev_score"] <= best["dev_score"]:
            log.info("self-training round %d did not improve dev (%.4f <= %.4f): stopping", r, report["dev_score"],
                     best["dev_score"])
            break
        best_dir, best = out_dir / f"teacher_st{r}", report
    return best_dir, rounds


def train(config: TrainConfig, out_dir: Path, *, resume: bool = False, stage: str = "all",
          bundle: Path | None = None) -> TrainResult:
    """Run the recipe's stages (``stage``: one of STAGES) into ``out_dir``.

    ``bundle``: a folder written by ``training.bundle`` for this recipe, used instead of reading the
    sources and the base model here (to train on a machine that has neither).
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")
    t_start = time.perf_counter()
    set_threads(config.optim.threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if bundle is not None:
        from training.bundle import read_bundle

        prep = read_bundle(config, Path(bundle), out_dir)
    else:
        prep = prepare(config, out_dir, resume)
    notes: list[str] = []
    if stage in ("all", "adapt"):
        adapted = run_adapt(config, prep, out_dir, resume)
        if stage == "adapt":
            return TrainResult(out_dir, out_dir / "adapted", {}, None, json.dumps(adapted or {}, indent=2),
                               time.perf_counter() - t_start, ["only the adapt stage ran"])
    teacher_dir = out_dir / "teacher"
    if stage in ("all", "teacher"):
        run_teacher(config, prep, teacher_dir, resume)
    teacher_dir, rounds = _final_teacher(config, prep, out_dir, teacher_dir, resume, stage)
    if not (teacher_dir / CHECKPOINT_JSON).is_file():
        raise ConfigError(f"no finished teacher in {teacher_dir}: run stage 'teacher' first")
    teacher_report = json.loads((teacher_dir / METRICS_JSON).read_text(encoding="utf-8"))
    final, student_report = _student(config, prep, out_dir, teacher_dir, resume, stage, notes)
    tables = {"teacher": teacher_report["dev"]} | ({"student": student_report["dev"]} if student_report else {})
    summary = summary_table(tables, prep.data.heads)
    seconds = time.perf_counter() - t_start
    write_json(out_dir / RUN_JSON, {
        "config": config_dump(config), "final": final.name, "teacher": teacher_dir.name, "seconds": seconds,
        "notes": notes, "self_training": rounds, "teacher_dev_score": teacher_report.get("dev_score"),
        "student_dev_score": student_report.get("dev_score") if student_report else None})
    log.info("dev results\n%s", summary)
    return TrainResult(out_dir, final, teacher_report, student_report, summary, seconds, notes)


def _final_teacher(config: TrainConfig, prep: Prepared, out_dir: Path, teacher_dir: Path, resume: bool,
                   stage: str) -> tuple[Path, list[dict[str, Any]]]:
    if config.self_train.enabled and stage in ("all", "self-train"):
        return run_self_training(config, prep, out_dir, teacher_dir, resume)
    run = out_dir / RUN_JSON
    if stage == "student" and run.is_file():  # a later stage reuses the teacher an earlier run chose
        chosen = json.loads(run.read_text(encoding="utf-8")).get("teacher")
        if chosen and (out_dir / chosen / CHECKPOINT_JSON).is_file():
            return out_dir / chosen, []
    return teacher_dir, []


def _student(config: TrainConfig, prep: Prepared, out_dir: Path, teacher_dir: Path, resume: bool, stage: str,
             notes: list[str]) -> tuple[Path, dict[str, Any] | None]:
    student_dir = out_dir / "student"
    report = None
    if config.distill.enabled and stage in ("all", "student"):
        from training.distill import distill

        report = distill(config, prep.data, teacher_dir, student_dir, prep.tokenizer_path, prep.base_info,
                         resume=resume)
    elif (student_dir / CHECKPOINT_JSON).is_file():
        report = json.loads((student_dir / METRICS_JSON).read_text(encoding="utf-8"))
    if report is None:
        return teacher_dir, None
    if report.get("within_tolerance"):
        return student_dir, report
    notes.append(f"the student lost more than {config.distill.max_drop_points} macro-F1 points on some head: "
                 "the teacher stays final")
    return teacher_dir, report


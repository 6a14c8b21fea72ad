"""Warm-start retraining: ``triage train --from RUN --feedback DB_URL`` continues the current model with the
agents' corrections plus a replay sample of its original training data.

- **From** the training checkpoint of the current model (a run folder or a checkpoint folder: weights,
  tokenizer, calibration and the recipe in ``checkpoint.json``). An exported model folder (``model.onnx``)
  holds no trainable weights: pass the run folder that made it.
- **Corrections** are the label corrections of the model's heads from the feedback database
  (``learning.feedback``'s table; any SQLAlchemy URL) or a JSON Lines export. The latest correction of a
  (post, head) wins; a post's corrections become one example. They **outrank** any earlier label of the
  same post: a training example with the same post id or the same cleaned text takes the corrected labels
  (its other heads keep theirs) and trains as a correction; in dev or test the corrected label replaces
  the old one there and the post is not trained on.
- **Held out**: the corrections of one post in five (by a hash of the post id: ``is_holdout``) are never
  trained on; ``triage models compare`` scores candidate and live model on them.
- **Replay**: each epoch draws a fresh sample of the original training examples (``replay_ratio`` x the
  corrections, at least ``min_replay``), so the model does not forget what it knew.
- **Budget**: ``plan`` sizes epochs and replay from the examples/s the checkpoint measured when it was
  trained, so the run fits ``budget_minutes`` (20 by default); the loop also stops at the budget.

The result is a run folder like ``triage train``'s (``OUT/teacher`` + ``run.json``): ``triage export OUT
MODEL_DIR`` exports it, with ``export.version`` set to ``<version>.ft<UTC time>`` so it registers as a new
version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from training.checkpoint import CHECKPOINT_JSON, METRICS_JSON, RUN_JSON, TOKENIZER_JSON, write_json
from training.config import TrainConfig, config_dump
from training.data import Data, encode_examples, load_data
from training.sources import Example, clean_text, stable_seed
from triage.errors import ConfigError, InputError
from triage.schema import HeadSpec

log = logging.getLogger(__name__)

FEEDBACK_SOURCE = "feedback"
HOLDOUT_BUCKETS = 5  # one post in five is held out for `triage models compare`
DEFAULT_BUDGET_MINUTES = 20.0


def is_holdout(post_id: str) -> bool:
    """Whether a post's corrections are held out of warm-start training (stable: a hash of the id)."""
    return stable_seed("holdout", post_id) % HOLDOUT_BUCKETS == 0


# Finding the checkpoint ------------------------------------------------------------------------------------------


def resolve_checkpoint(path: Path) -> Path:
    """The checkpoint folder of a run folder or a checkpoint folder; a clear error for an exported model."""
    path = Path(path)
    if (path / CHECKPOINT_JSON).is_file():
        return path
    if (path / RUN_JSON).is_file():
        final = json.loads((path / RUN_JSON).read_text(encoding="utf-8")).get("final", "teacher")
        if (path / final / CHECKPOINT_JSON).is_file():
            return path / final
    if (path / "manifest.json").is_file():
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        training = manifest.get("training", {})
        kind = training.get("kind", "teacher")
        raise ConfigError(
            f"{path} is an exported model folder ({manifest.get('name')}@{manifest.get('version')}): it holds the "
            "ONNX graph, not trainable weights, so training cannot continue from it. Pass the training checkpoint "
            f"that made it (recipe {training.get('recipe')!r}, its {kind} checkpoint: e.g. "
            f"runs/{training.get('recipe', 'default')}/{kind} with checkpoint.json and model.safetensors; a run "
            "folder continues its final checkpoint), or retrain from the recipe (triage train --config ...).",
            code="not_a_checkpoint")
    raise ConfigError(f"{path} is neither a run folder (run.json) nor a training checkpoint (checkpoint.json)",
                      code="not_a_checkpoint")


# Reading corrections -------------------------------------------------------------------------------------------


def read_corrections(source: str) -> list[dict[str, Any]]:
    """Corrections from a feedback database URL (table ``feedback``) or a JSON Lines export, oldest first."""
    if "://" in source:
        from sqlalchemy import create_engine, inspect, text

        engine = create_engine(source)
        try:
            if not inspect(engine).has_table("feedback"):
                return []
            with engine.connect() as connection:
                result = connection.execute(text(
                    "SELECT id, post_id, head, label, redacted_text, created_at FROM feedback ORDER BY id"))
                return [dict(row._mapping) for row in result]
        finally:
            engine.dispose()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"--feedback {source}: neither a database URL (sqlite:///...) nor a JSON Lines file")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(rows, key=lambda r: (r.get("id") or 0))


def correction_examples(rows: Sequence[dict[str, Any]], heads: Sequence[HeadSpec]) -> list[Example]:
    """One example per corrected post: the latest label of each of the model's heads (others are ignored)."""
    index = {h.name: {lab: i for i, lab in enumerate(h.labels)} for h in heads if not h.auxiliary}
    by_post: dict[str, Example] = {}
    for row in rows:
        head, label = row.get("head"), row.get("label")
        if head not in index or label not in index[head]:
            continue
        post_id = str(row["post_id"])
        text = clean_text(str(row.get("redacted_text") or ""))
        if not text:
            continue
        example = by_post.setdefault(post_id, Example(text, {}, FEEDBACK_SOURCE, "train", None, {"id": post_id}))
        example.text = text  # the latest text of the post
        example.labels[head] = index[head][label]
    return list(by_post.values())


def _key(example: Example) -> tuple[str, str]:
    return str(example.meta.get("id") or ""), example.text.casefold()


def apply_corrections(data: Data, corrections: list[Example]) -> tuple[list[Example], dict[str, int]]:
    """Corrections outrank earlier labels: merge them into matching examples (same post id or text).

    Returns the correction examples to train on (merged with a matching training example's other heads)
    and counts; matching train examples leave their source, matching dev/test examples take the labels.
    """
    by_id = {str(c.meta["id"]): c for c in corrections}
    by_text = {c.text.casefold(): c for c in corrections}
    counts = {"merged_train": 0, "relabelled_eval": 0}
    evaluated: set[str] = set()

    def match(e: Example) -> Example | None:
        post_id, text = _key(e)
        return by_id.get(post_id) or by_text.get(text)

    for name, rows in data.train.items():
        kept = []
        for e in rows:
            c = match(e)
            if c is None:
                kept.append(e)
                continue
            c.labels = {**e.labels, **c.labels}
            c.language = c.language or e.language
            counts["merged_train"] += 1
        data.train[name] = kept
    for split in (data.dev, data.test):
        for rows in split.values():
            for e in rows:
                c = match(e)
                if c is not None:
                    e.labels = {**e.labels, **c.labels}
                    evaluated.add(str(c.meta["id"]))
                    counts["relabelled_eval"] += 1
    train = [c for c in corrections if str(c.meta["id"]) not in evaluated]
    return train, counts


# Planning the run -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    """How a warm start spends its time budget (sized from the checkpoint's measured training speed)."""

    corrections: int
    replay_per_epoch: int
    epochs: int
    corrections_per_epoch: int
    examples_per_second: float
    train_minutes: float
    eval_minutes: float
    estimated_minutes: float
    budget_minutes: float

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in dataclasses.asdict(self).items()}


def plan(corrections: int, replay_available: int, dev_examples: int, examples_per_second: float, *,
         budget_minutes: float = DEFAULT_BUDGET_MINUTES, replay_ratio: float = 1.0, min_replay: int = 256,
         max_epochs: int = 3, epochs: int | None = None) -> Plan:
    """Epochs and replay that fit the budget.

    Evaluation (dev after each epoch, then calibration) runs forward passes only, about 3x the training
    speed; a quarter-minute of fixed cost covers loading and tokenising.
    """
    speed = max(examples_per_second, 1e-3)
    replay = min(replay_available, max(min_replay, round(replay_ratio * corrections)))
    per_corr = corrections
    per_epoch_s = (per_corr + replay) / speed
    eval_s = dev_examples / (3 * speed)
    budget_s = budget_minutes * 60 - 15
    n = epochs or max(1, min(max_epochs, math.floor((budget_s - eval_s) / max(per_epoch_s + eval_s, 1e-9))))
    if n * (per_epoch_s + eval_s) + eval_s > budget_s:  # even one epoch is too long: draw fewer per epoch
        room = max(0.0, budget_s - 2 * eval_s) * speed
        per_corr = min(corrections, max(1, int(room * corrections / max(corrections + replay, 1))))
        replay = max(0, min(replay, int(room) - per_corr))
        per_epoch_s = (per_corr + replay) / speed
    train_min = n * per_epoch_s / 60
    eval_min = (n + 1) * eval_s / 60
    return Plan(corrections, replay, n, per_corr, speed, train_min, eval_min, train_min + eval_min + 0.25,
                budget_minutes)


def _replay_caps(train: dict[str, list[Example]], caps: dict[str, int | None], replay: int) -> dict[str, int]:
    """Per-epoch draws of each original source, in proportion to what the recipe drew per epoch."""
    share = {name: min(len(rows), caps.get(name) or len(rows)) for name, rows in train.items() if rows}
    total = sum(share.values()) or 1
    return {name: max(1, min(len(train[name]), round(replay * n / total))) for name, n in share.items()}


# The run ------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class WarmStartResult:
    out_dir: Path
    final: Path
    report: dict[str, Any]
    summary: str
    seconds: float
    notes: list[str]


def _new_version(config: TrainConfig, now: datetime) -> TrainConfig:
    version = f"{config.export.version}.ft{now.strftime('%Y%m%dT%H%M%S')}"
    return config.model_copy(update={"export": config.export.model_copy(update={"version": version})})


def _corrections_sha(rows: Sequence[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for r in rows:
        digest.update(json.dumps([r.get("id"), r.get("post_id"), r.get("head"), r.get("label")], default=str).encode())
    return digest.hexdigest()


def _safe_source(source: str) -> str:
    if "://" not in source:
        return source
    from sqlalchemy.engine import make_url

    return make_url(source).render_as_string(hide_password=True)


@dataclasses.dataclass
class _Prepared:
    config: TrainConfig
    ckpt: dict[str, Any]
    ckpt_dir: Path
    data: Data
    train_corrections: list[Example]
    holdout: int
    counts: dict[str, int]
    rows: list[dict[str, Any]]


def _prepare(model_ref: Path, feedback: str, config: TrainConfig | None) -> _Prepared:
    ckpt_dir = resolve_checkpoint(model_ref)
    ckpt = json.loads((ckpt_dir / CHECKPOINT_JSON).read_text(encoding="utf-8"))
    config = config or TrainConfig.model_validate(ckpt["config"])
    rows = read_corrections(feedback)
    heads = config.model_heads()
    corrections = correction_examples(rows, heads)
    held = [c for c in corrections if is_holdout(str(c.meta["id"]))]
    usable = [c for c in corrections if not is_holdout(str(c.meta["id"]))]
    if not usable:
        raise InputError(f"no label corrections to train on in {_safe_source(feedback)} ({len(rows)} rows, "
                         f"{len(held)} post(s) held out for comparison)", code="no_corrections")
    data = load_data(config)
    train, counts = apply_corrections(data, usable)
    tokenizer = Tokenizer.from_file(str(ckpt_dir / TOKENIZER_JSON))
    encode_examples([*data.all_examples(), *train], tokenizer, config.max_length)
    counts |= {"rows": len(rows), "posts": len(corrections), "held_out_posts": len(held), "train_posts": len(train)}
    return _Prepared(config, ckpt, ckpt_dir, data, train, len(held), counts, list(rows))


def warm_start(model_ref: Path, feedback: str, out_dir: Path, *, config: TrainConfig | None = None,
               budget_minutes: float = DEFAULT_BUDGET_MINUTES, replay_ratio: float = 1.0, epochs: int | None = None,
               feedback_weight: float = 2.0, lr_scale: float = 0.5) -> WarmStartResult:
    """Continue ``model_ref``'s checkpoint with the corrections in ``feedback`` and a replay sample."""
    from training.finish import finish_checkpoint, summary_table
    from training.train import set_threads

    t0 = time.perf_counter()
    p = _prepare(model_ref, feedback, config)
    set_threads(p.config.optim.threads)
    measured = json.loads((p.ckpt_dir / METRICS_JSON).read_text(encoding="utf-8")).get("examples_per_second")
    the_plan = plan(len(p.train_corrections), sum(len(v) for v in p.data.train.values()),
                    sum(len(v) for v in p.data.dev.values()), float(measured or 16.0), budget_minutes=budget_minutes,
                    replay_ratio=replay_ratio, epochs=epochs)
    log.info("warm start plan: %s", the_plan.to_dict())
    new_cfg = _new_version(p.config, datetime.now(UTC))
    folder = Path(out_dir) / "teacher"
    model, result, data = _fit(p, the_plan, folder, feedback_weight, lr_scale, budget_minutes)
    data.files[f"{FEEDBACK_SOURCE}:{_safe_source(feedback)}"] = _corrections_sha(p.rows)
    info = {"from": str(p.ckpt_dir), "from_version": f"{p.config.export.name}@{p.config.export.version}",
            "version": f"{new_cfg.export.name}@{new_cfg.export.version}", "feedback": _safe_source(feedback),
            "counts": p.counts, "plan": the_plan.to_dict(), "feedback_weight": feedback_weight, "lr_scale": lr_scale}
    finish_checkpoint(model, folder, new_cfg, data, "teacher", result, p.ckpt_dir / TOKENIZER_JSON,
                      p.ckpt["base_model"], {"warm_start": info})
    seconds = time.perf_counter() - t0
    info |= {"seconds": round(seconds, 1), "train_seconds": round(result.train_seconds, 1),
             "examples_per_second": round(result.examples_per_second, 2)}
    _record(folder, Path(out_dir), new_cfg, info)
    report = json.loads((folder / METRICS_JSON).read_text(encoding="utf-8"))
    summary = summary_table({"before": p.ckpt.get("dev", {}), "after": report["dev"]}, model.head_specs)
    notes = [f"{p.counts['held_out_posts']} corrected post(s) held out for `triage models compare`"]
    return WarmStartResult(Path(out_dir), folder, info, summary, seconds, notes)


def _fit(p: _Prepared, the_plan: Plan, folder: Path, feedback_weight: float, lr_scale: float,
         budget_minutes: float) -> tuple[Any, Any, Data]:
    """Fine-tune the checkpoint's weights on corrections + replay; (model, fit result, the data it saw)."""
    from training.loop import fit
    from training.losses import class_weights, masked_cross_entropy
    from training.model import MultiHeadModel
    from training.train import fit_spec

    cfg = p.config
    pool = {**{k: v for k, v in p.data.train.items() if v}, FEEDBACK_SOURCE: p.train_corrections}
    caps: dict[str, int | None] = {**_replay_caps(p.data.train, p.data.caps, the_plan.replay_per_epoch),
                                   FEEDBACK_SOURCE: the_plan.corrections_per_epoch}
    model = MultiHeadModel.load(p.ckpt_dir)
    spec = dataclasses.replace(
        fit_spec(cfg, "warm-start"), epochs=the_plan.epochs, lr=cfg.optim.lr * lr_scale,
        head_lr=cfg.optim.head_lr * lr_scale, warmup_ratio=0.0, patience=the_plan.epochs,
        max_minutes=max(1.0, budget_minutes - the_plan.eval_minutes - 0.5))
    weights = {s.name: s.weight for s in cfg.sources} | {FEEDBACK_SOURCE: feedback_weight}
    cw = class_weights(pool, model.head_specs, cfg.optim.class_weighting, cfg.optim.max_class_weight,
                       cfg.optim.class_weights_per_source)
    result = fit(model, pool, caps, p.data.dev, weights, lambda lg, b: masked_cross_entropy(lg, b, cw), spec,
                 folder, False)
    return model, result, dataclasses.replace(p.data, train=pool, caps=caps, files=dict(p.data.files))


def _record(folder: Path, out_dir: Path, config: TrainConfig, info: dict[str, Any]) -> None:
    ckpt_path = folder / CHECKPOINT_JSON
    ckpt = json.loads(ckpt_path.read_text(encoding="utf-8"))
    write_json(ckpt_path, {**ckpt, "warm_start": info})
    write_json(out_dir / RUN_JSON, {"config": config_dump(config), "final": folder.name, "teacher": folder.name,
                                    "seconds": info["seconds"], "notes": [], "warm_start": info})

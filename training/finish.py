"""Finishing a fit: calibrate the best weights on dev and describe the checkpoint for export."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.calibrate import calibrate_model
from training.checkpoint import CALIBRATION_JSON, CHECKPOINT_JSON, METRICS_JSON, TOKENIZER_JSON, write_json
from training.config import TrainConfig, config_dump
from training.metrics import fmt
from training.model import MultiHeadModel
from triage.schema import HeadSpec

if TYPE_CHECKING:
    from training.data import Data
    from training.loop import FitResult


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
    write_json(out_dir / CALIBRATION_JSON, calibration)
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
    write_json(out_dir / METRICS_JSON, report)
    write_json(out_dir / CHECKPOINT_JSON, {
        "kind": kind,
        "status": "complete",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config_dump(config),
        "base_model": base_info,
        "architecture": {
            "encoder": "BertModel (no pooler), mean pooling over masked tokens incl. <s></s>, dropout, one Linear per "
                       "head",
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





"""Checkpoints: resumable training state, the finished checkpoint folder (calibrated on dev), run folders.

A finished checkpoint folder holds ``model.safetensors`` + ``model.json``, ``tokenizer.json``,
``calibration.json``, ``metrics.json`` and ``checkpoint.json`` (everything export needs); ``state/`` holds
the last epoch's optimiser, scheduler and RNG state for ``--resume``.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from training.model import MultiHeadModel
from triage.errors import ConfigError

RUN_JSON = "run.json"
CHECKPOINT_JSON = "checkpoint.json"
METRICS_JSON = "metrics.json"
CALIBRATION_JSON = "calibration.json"
TOKENIZER_JSON = "tokenizer.json"
STATE_DIR = "state"


def write_json(path: Path, obj: Any) -> None:
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
    write_json(tmp / "state.json", {**info, "python_rng": [state[0], list(state[1]), state[2]]})
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


def checkpoint_dir(path: Path) -> Path:
    """A checkpoint folder, or a run folder (then its final checkpoint as recorded in run.json)."""
    path = Path(path)
    if (path / CHECKPOINT_JSON).is_file():
        return path
    run = path / RUN_JSON
    if run.is_file():
        final = json.loads(run.read_text(encoding="utf-8"))["final"]
        return path / final
    raise ConfigError(
        f"{path} is neither a training checkpoint (no {CHECKPOINT_JSON}) nor a run folder (no {RUN_JSON})"
    )


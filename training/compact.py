"""Carry a finished checkpoint between machines in a few small files, and restore it.

The word-embedding table is frozen during training, so it is the base model's (cut to the run's
vocabulary) and is not carried: ``restore`` takes it from the base model again. Every other tensor is
stored in fp16, or as int8 with one scale per output row (``int8=True``: half the size; the exported
model quantises these weights to int8 anyway). Tensors are split into parts of at most ``part_bytes``.
The checkpoint's JSON files travel in one ``.json`` file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from training.checkpoint import CALIBRATION_JSON, CHECKPOINT_JSON, METRICS_JSON, TOKENIZER_JSON
from training.model import MODEL_JSON, MODEL_WEIGHTS

WORD = "encoder.embeddings.word_embeddings.weight"
JSON_FILES = (MODEL_JSON, CALIBRATION_JSON, METRICS_JSON, CHECKPOINT_JSON)


def _encode(name: str, value: torch.Tensor, int8: bool) -> dict[str, torch.Tensor]:
    value = value.float()
    if int8 and value.ndim == 2 and value.numel() >= 65_536:
        scale = value.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        q = torch.round(value / scale[:, None]).clamp(-127, 127).to(torch.int8)
        return {f"{name}::q": q, f"{name}::scale": scale}
    return {name: value.half() if value.is_floating_point() else value}


def compact(folder: Path, out: Path, prefix: str, *, int8: bool = False, part_bytes: int = 15_000_000) -> list[Path]:
    """Write ``prefix.partN.safetensors`` files and ``prefix.json`` into ``out``; return their paths."""
    state = load_file(str(folder / MODEL_WEIGHTS))
    encoded: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name != WORD:
            encoded.update(_encode(name, value, int8))
    parts: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, value in encoded.items():
        nbytes = value.numel() * value.element_size()
        if size + nbytes > part_bytes and parts[-1]:
            parts.append({})
            size = 0
        parts[-1][name] = value.contiguous()
        size += nbytes
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, part in enumerate(parts):
        paths.append(out / f"{prefix}.part{i}.safetensors")
        save_file(part, str(paths[-1]))
    meta = {name: json.loads((folder / name).read_text(encoding="utf-8"))
            for name in JSON_FILES if (folder / name).is_file()}
    (out / f"{prefix}.json").write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
    return [*paths, out / f"{prefix}.json"]


def _decode(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name.endswith("::scale"):
            continue
        if name.endswith("::q"):
            base = name[: -len("::q")]
            out[base] = value.float() * state[f"{base}::scale"][:, None]
        else:
            out[name] = value.float() if value.is_floating_point() else value
    return out


def restore(src: Path, prefix: str, folder: Path, word_embeddings: np.ndarray | torch.Tensor,
            tokenizer: Path) -> Path:
    """Rebuild the checkpoint folder ``folder`` from ``src/prefix.*`` and the run's word-embedding table."""
    state: dict[str, torch.Tensor] = {}
    for part in sorted(src.glob(f"{prefix}.part*.safetensors")):
        state.update(load_file(str(part)))
    weights = _decode(state)
    weights[WORD] = torch.as_tensor(np.asarray(word_embeddings), dtype=torch.float32)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in weights.items()}, str(folder / MODEL_WEIGHTS), metadata={"format": "pt"})
    meta = json.loads((src / f"{prefix}.json").read_text(encoding="utf-8"))
    for name, value in meta.items():
        (folder / name).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / TOKENIZER_JSON).write_bytes(tokenizer.read_bytes())
    return folder

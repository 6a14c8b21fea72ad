"""A saved model is a self-describing folder.

::

    models/default/
      manifest.json         schema, labels per head, temperatures, thresholds, base model and its hash,
                            training data hashes, library versions, sha256 of every other file
      model.onnx            input_ids, attention_mask -> logits__<head> per head, embedding (L2-normalised)
      tokenizer.json        the `tokenizers` tokenizer the model was trained with
      training_config.json  the exact training configuration
      metrics.json          evaluation results
      README.md             the model card

Loading verifies every hash and refuses a folder that does not match its manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triage.errors import ModelArtifactError, ModelNotInstalledError
from triage.schema import LabelSchema, format_validation_error

ARTIFACT_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.json"
REQUIRED_FILES = (ONNX_FILE, TOKENIZER_FILE)


class HeadCalibration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=1.0, gt=0.0)
    threshold: float = Field(ge=0.0, le=1.0)
    min_margin: float = Field(default=0.0, ge=0.0, le=1.0)


class BaseModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    sha256: str


class Manifest(BaseModel):
    format_version: int = ARTIFACT_FORMAT_VERSION
    name: str
    version: str
    created_at: str
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    label_schema: LabelSchema = Field(alias="schema")
    heads: dict[str, HeadCalibration]
    max_length: int = Field(gt=2)
    query_prefix: str = "query: "
    base_model: BaseModelInfo
    architecture: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    libraries: dict[str, str] = Field(default_factory=dict)
    onnx: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(description="File name -> sha256 of every file in the folder but the manifest.")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> Manifest:
    path = model_dir / MANIFEST
    if not model_dir.is_dir() or not path.is_file():
        raise ModelNotInstalledError(
            f"no model is installed at {model_dir} (no {MANIFEST}). Train and export one with "
            "`triage train` and `triage export`, or pass --model / set TRIAGE_MODEL to a model folder or to the "
            "name of a folder under models/ (e.g. default)."
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelArtifactError(f"{path} is not valid JSON ({exc}); the artifact is corrupted: re-export it") from exc
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ModelArtifactError(format_validation_error(str(path), exc)) from exc
    if manifest.format_version != ARTIFACT_FORMAT_VERSION:
        raise ModelArtifactError(
            f"{path} has format_version {manifest.format_version}; this triage reads {ARTIFACT_FORMAT_VERSION}"
        )
    missing = [h.name for h in manifest.label_schema.heads if h.name not in manifest.heads]
    if missing:
        raise ModelArtifactError(f"{path} has no calibration for heads {missing}")
    return manifest


def verify_artifact(model_dir: Path) -> Manifest:
    """Read the manifest and check every file's sha256; raise ModelArtifactError on any mismatch."""
    manifest = read_manifest(model_dir)
    for required in REQUIRED_FILES:
        if required not in manifest.files:
            raise ModelArtifactError(f"{model_dir / MANIFEST} does not list {required}")
    for name, expected in manifest.files.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelArtifactError(f"{path} is missing; the artifact is incomplete: re-export or re-download it")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelArtifactError(
                f"{path} does not match its manifest (sha256 {actual[:12]}… != {expected[:12]}…): "
                "the file is corrupted or was changed after export; re-export the model"
            )
    return manifest


def write_manifest(model_dir: Path, manifest: Manifest) -> Path:
    """Write manifest.json after recomputing the hashes of the files it lists."""
    files = {name: sha256_file(model_dir / name) for name in sorted(manifest.files)}
    data = manifest.model_copy(update={"files": files}).model_dump(mode="json", by_alias=True)
    path = model_dir / MANIFEST
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


class ModelInfo(BaseModel):
    """What a shell may show about the loaded model: identity, schema and a summary of its evaluation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str = Field(description="What every result carries as model_version, e.g. triage-default@1.")
    schema_name: str
    model_dir: str | None = None
    metrics: dict[str, Any] | None = Field(
        default=None, description="Scalars (and one level of nested scalars) of the folder's metrics.json.")


def _scalars(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, int | float | str | bool)}


def metrics_summary(model_dir: Path) -> dict[str, Any] | None:
    """The scalar part of ``metrics.json`` (one level deep), or None when the folder has none."""
    try:
        raw = json.loads((Path(model_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    out: dict[str, Any] = _scalars(raw)
    for key, value in raw.items():
        if isinstance(value, dict) and (inner := _scalars(value)):
            out[key] = inner
    return out


def model_info(model_dir: Path, manifest: Manifest) -> ModelInfo:
    """Read once when the model loads: the manifest's identity and the metrics summary."""
    return ModelInfo(name=manifest.name, version=f"{manifest.name}@{manifest.version}",
                     schema_name=manifest.label_schema.name,
                     model_dir=str(model_dir), metrics=metrics_summary(model_dir))

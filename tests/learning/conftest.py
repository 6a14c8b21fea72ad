"""Fixtures for the learning loop: model folders that pass the manifest check without a real network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from triage.artifact import BaseModelInfo, HeadCalibration, Manifest, write_manifest
from triage.schema import LabelSchema


@pytest.fixture()
def make_model_dir(tmp_path: Path, default_schema: LabelSchema) -> Callable[..., Path]:
    """``make_model_dir("m", "2")`` -> a folder whose manifest and hashes verify (its model.onnx is not a network)."""

    def build(name: str, version: str, payload: str = "") -> Path:
        folder = tmp_path / "models-src" / f"{name}@{version}{'-' + payload if payload else ''}"
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(f"not a network {name} {version} {payload}".encode())
        (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
        manifest = Manifest(
            name=name, version=version, created_at="2026-01-01T00:00:00+00:00", schema=default_schema,
            heads={h.name: HeadCalibration(threshold=0.5) for h in default_schema.heads}, max_length=64,
            base_model=BaseModelInfo(name="test", sha256="-"), files={"model.onnx": "", "tokenizer.json": ""},
        )
        write_manifest(folder, manifest)
        return folder

    return build

"""What a job is asked to do: its options, and how each scorer builds its engine.

Worker processes and Ray actors build their own engine, so an engine is described, never shipped: an
``EngineSpec`` (plain data) and an *engine builder*, a top-level function ``builder(spec) -> Engine``
that they import by name. The default builder loads the model with routing and without the reply
suggester (a job writes labels, entities and routing, never replies; ranking replies is most of the
per-post work after the model). Tests and custom set-ups pass their own builder to ``reclassify``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from batch.columns import Columns
from triage.engine import Engine
from triage.errors import ConfigError

EngineKind = Literal["local", "ray"]


@dataclass(frozen=True)
class EngineSpec:
    """How to build the engine: which model, brand and ONNX threads."""

    model_dir: str | None = None
    brand: str | None = None
    threads: int | None = None


EngineBuilder = Callable[[EngineSpec], Engine]


def load_job_engine(spec: EngineSpec) -> Engine:
    """The default engine builder: the installed (or ``spec.model_dir``) model, routing, no replies."""
    from triage.loading import load_engine

    model_dir = Path(spec.model_dir) if spec.model_dir else None
    return load_engine(model_dir, threads=spec.threads, brand=spec.brand, replies=False)


def check_builder(builder: EngineBuilder) -> None:
    """Refuse a builder that worker processes could not import (a lambda, a nested function)."""
    try:
        pickle.dumps(builder)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ConfigError(
            f"the engine builder {builder!r} must be a top-level function (worker processes and Ray actors "
            f"import it by name): {exc}"
        ) from exc


def build_engine(spec: EngineSpec, builder: EngineBuilder | None = None) -> Engine:
    engine = (builder or load_job_engine)(spec)
    if not isinstance(engine, Engine):
        raise ConfigError(f"the engine builder {builder!r} returned {type(engine).__name__}, not an Engine")
    return engine


@dataclass(frozen=True)
class ReclassifyOptions:
    """Everything that shapes a job besides its input and output paths (and the engine builder)."""

    input_format: str | None = None
    columns: Columns = field(default_factory=Columns)
    chunk_size: int = 1000
    batch_size: int = 64
    engine: EngineKind = "local"
    # Local engine: worker processes (1 = score in this process).
    workers: int = 1
    engine_spec: EngineSpec = field(default_factory=EngineSpec)
    # Fixed for reproducible output; else the job's start time (kept in the state when resuming).
    reclassified_at: datetime | None = None
    dry_run: bool = False
    # Discard a work folder left by a different job instead of refusing to start.
    restart: bool = False
    examples: int = 5
    ray_address: str | None = None
    ray_concurrency: int | None = None
    ray_num_cpus: float = 0.5

"""Batch reclassification of stored posts: streaming, resumable, on one machine or a Ray cluster.

``reclassify`` (in :mod:`batch.job`) is the entry point; the ``triage reclassify`` command
(:mod:`batch.cli`) is a thin shell over it. Names are loaded on first use, so that registering the
command (``triage --help``) imports neither pyarrow nor the engine, and nothing imports Ray until a job
asks for the Ray engine (:mod:`batch.ray_engine`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batch.columns import Columns
    from batch.job import reclassify
    from batch.readers import FORMATS, detect_format
    from batch.report import ReclassifyReport
    from batch.spec import EngineBuilder, EngineSpec, ReclassifyOptions, load_job_engine

_WHERE = {
    "FORMATS": "batch.readers",
    "Columns": "batch.columns",
    "EngineBuilder": "batch.spec",
    "EngineSpec": "batch.spec",
    "ReclassifyOptions": "batch.spec",
    "ReclassifyReport": "batch.report",
    "detect_format": "batch.readers",
    "load_job_engine": "batch.spec",
    "reclassify": "batch.job",
}
__all__ = [
    "FORMATS",
    "Columns",
    "EngineBuilder",
    "EngineSpec",
    "ReclassifyOptions",
    "ReclassifyReport",
    "detect_format",
    "load_job_engine",
    "reclassify",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'batch' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)

"""Batch reclassification of stored posts: streaming, resumable, on one machine or a Ray cluster.

``reclassify`` (in :mod:`batch.job`) is the entry point; the ``triage reclassify`` command is a
thin shell over it. Nothing here imports Ray at import time: the Ray engine
(:mod:`batch.ray_engine`) is loaded only when a job asks for it.
"""

from __future__ import annotations

from batch.io import FORMATS, Columns, detect_format
from batch.job import EngineSpec, ReclassifyOptions, ReclassifyReport, reclassify

__all__ = [
    "FORMATS",
    "Columns",
    "EngineSpec",
    "ReclassifyOptions",
    "ReclassifyReport",
    "detect_format",
    "reclassify",
]

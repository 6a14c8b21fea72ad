"""Batch reclassification of stored posts: streaming, resumable, on one machine or a Ray cluster.

``reclassify`` (in :mod:`triage.batch.job`) is the entry point; the ``triage reclassify`` command is a
thin shell over it. Nothing here imports Ray at import time: the Ray engine
(:mod:`triage.batch.ray_engine`) is loaded only when a job asks for it.
"""

from __future__ import annotations

from triage.batch.io import FORMATS, Columns, detect_format
from triage.batch.job import EngineSpec, ReclassifyOptions, ReclassifyReport, reclassify

__all__ = [
    "FORMATS",
    "Columns",
    "EngineSpec",
    "ReclassifyOptions",
    "ReclassifyReport",
    "detect_format",
    "reclassify",
]

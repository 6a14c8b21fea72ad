"""Build a ready Engine from folders on disk: the model, the brand policies and reply libraries."""

from __future__ import annotations

from pathlib import Path

from triage.classify.base import Classifier
from triage.engine import Engine
from triage.resources import default_model_dir
from triage.text.validate import TextLimits


def load_classifier(model_dir: Path | None = None, threads: int | None = None) -> Classifier:
    from triage.classify.onnx_model import OnnxClassifier

    return OnnxClassifier(Path(model_dir) if model_dir else default_model_dir(), threads=threads)


def load_engine(
    model_dir: Path | None = None,
    *,
    classifier: Classifier | None = None,
    limits: TextLimits | None = None,
    threads: int | None = None,
) -> Engine:
    """The engine with the installed model (or ``classifier``), plus routing and replies when available."""
    clf = classifier or load_classifier(model_dir, threads)
    return Engine(clf, limits=limits)

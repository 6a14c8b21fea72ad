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
    brand: str | None = None,
    policies_dir: Path | None = None,
    replies_dir: Path | None = None,
    routing: bool = True,
) -> Engine:
    """The engine with the installed model (or ``classifier``), plus routing and replies when available.

    Every policy in ``policies_dir`` (default ``data/policies``) written for the classifier's schema is
    checked and loaded with its reply library from ``replies_dir`` (default ``data/replies``); posts are
    routed by ``post.brand``, and posts without one by ``brand`` (default: the ``default`` brand). A
    classifier whose schema has no policy (e.g. banking77) gets an engine without routing or replies;
    an explicit ``brand`` that has no policy is a ConfigError (code ``unknown_brand``). ``routing=False``
    skips policies altogether.
    """
    clf = classifier or load_classifier(model_dir, threads)
    if not routing:
        return Engine(clf, limits=limits)
    from triage.routing.brands import load_brands

    brands = load_brands(clf, brand=brand, policies=policies_dir, replies=replies_dir)
    if brands is None:
        return Engine(clf, limits=limits)
    return Engine(clf, router=brands.router, replier=brands.replier, limits=limits)

"""Build a ready Engine from folders on disk: the model, the brand policies and reply libraries."""

from __future__ import annotations

from pathlib import Path

from triage.classify.base import Classifier
from triage.engine import Engine, Router
from triage.resources import default_model_dir, resolve_model_dir
from triage.text.validate import TextLimits


def load_classifier(model_dir: str | Path | None = None, threads: int | None = None) -> Classifier:
    from triage.classify.onnx_model import OnnxClassifier

    folder = resolve_model_dir(model_dir) if model_dir else default_model_dir()
    return OnnxClassifier(folder, threads=threads)


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
    replies: bool = True,
) -> Engine:
    """The engine with the installed model (or ``classifier``), plus routing and replies when available.

    Every policy in ``policies_dir`` (default ``data/policies``) written for the classifier's schema is
    checked and loaded with its reply library from ``replies_dir`` (default ``data/replies``); posts are
    routed by ``post.brand``, and posts without one by ``brand`` (default: the ``default`` brand). A
    classifier whose schema has no policy (e.g. banking77) gets an engine without routing or replies;
    an explicit ``brand`` that has no policy is a ConfigError (code ``unknown_brand``). ``routing=False``
    skips policies altogether; ``replies=False`` routes but builds no reply suggester (for batch jobs, which
    write no replies: building one embeds every reply library's examples).
    """
    clf = classifier or load_classifier(model_dir, threads)
    if not routing:
        return Engine(clf, limits=limits)
    if not replies:
        router = _router_only(clf, brand, policies_dir, replies_dir)
        return Engine(clf, router=router, limits=limits)
    from triage.routing.brands import load_brands

    brands = load_brands(clf, brand=brand, policies=policies_dir, replies=replies_dir)
    if brands is None:
        return Engine(clf, limits=limits)
    return Engine(clf, router=brands.router, replier=brands.replier, limits=limits)


def _router_only(clf: Classifier, brand: str | None, policies_dir: Path | None,
                 replies_dir: Path | None) -> Router | None:
    """``load_brands``' router without its replier (no suggester, so no reply examples embedded).

    Brand selection mirrors ``load_brands``: an unknown explicit brand is a ConfigError, and posts without
    a brand go to ``brand``, else ``default``, else the only brand.
    """
    from triage.errors import ConfigError
    from triage.resources import policies_dir as default_policies
    from triage.resources import replies_dir as default_replies
    from triage.routing.brands import DEFAULT_BRAND, load_policies
    from triage.routing.router import BrandRouter, PolicyRouter

    policies = Path(policies_dir) if policies_dir is not None else default_policies()
    loaded = load_policies(clf.schema, policies, Path(replies_dir) if replies_dir is not None else default_replies())
    if brand is not None and brand not in loaded:
        raise ConfigError(
            f"unknown brand {brand!r}: no policy {policies / (brand + '.yaml')} for schema "
            f"{clf.schema.name!r} (brands: {', '.join(sorted(loaded)) or 'none'})",
            code="unknown_brand",
        )
    if not loaded:
        return None
    default = brand or (DEFAULT_BRAND if DEFAULT_BRAND in loaded else next(iter(loaded)) if len(loaded) == 1 else None)
    return BrandRouter({name: PolicyRouter(policy) for name, policy in loaded.items()}, default)

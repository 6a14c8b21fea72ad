"""Load every brand's policy and reply library for a classifier, once, at start-up.

A policy declares the label schema it was written for (``schema: default``); only the policies for the
classifier's schema are loaded, so a model trained with another schema (e.g. banking77) runs without
routing unless a policy for that schema exists. A broken policy for the schema stops the start-up with
its line-numbered errors rather than failing on some later request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from triage.classify.base import Classifier
from triage.errors import ConfigError
from triage.replies.library import ReplyLibrary, load_library
from triage.replies.suggester import BrandReplier, ReplyContext, ReplySuggester
from triage.routing.policy import Policy, known_policy_files, load_policy, policy_schema_name
from triage.routing.router import BrandRouter, PolicyRouter
from triage.routing.source import read_config
from triage.schema import LabelSchema

DEFAULT_BRAND = "default"


@dataclass
class Brands:
    policies: dict[str, Policy]
    router: BrandRouter
    replier: BrandReplier


def load_policies(schema: LabelSchema, policies: Path, replies: Path) -> dict[str, Policy]:
    """Every policy in ``policies`` written for ``schema``, checked, by brand. Libraries load once each."""
    libraries: dict[str, ReplyLibrary] = {}
    out: dict[str, Policy] = {}
    for path in known_policy_files(policies):
        if policy_schema_name(path) != schema.name:
            continue
        # Load the library first (once per library) so brands sharing one embed its examples once.
        name = _library_name(path)
        library = None
        if name is not None and name in libraries:
            library = libraries[name]
        policy = load_policy(path, schema, replies_root=replies, library=library)
        if policy.brand != path.stem:
            # Brands are found by file name (data/policies/<brand>.yaml), so the two must agree.
            raise ConfigError(f"{path}: brand {policy.brand!r} must be named like its file ({path.stem!r})")
        if policy.library is not None:
            # A shared library was checked against the first brand's queues; check it for this one too.
            if library is not None:
                load_library(library.folder, schema, queues=list(policy.spec.queues))
            libraries.setdefault(policy.library.name, policy.library)
        out[policy.brand] = policy
    return out


def _library_name(path: Path) -> str | None:
    data = read_config(path).data
    value = data.get("reply_library") if isinstance(data, dict) else None
    return str(value) if value is not None else None


def load_brands(
    classifier: Classifier,
    *,
    brand: str | None = None,
    policies: Path | None = None,
    replies: Path | None = None,
    context: ReplyContext | None = None,
) -> Brands | None:
    """The router and replier for all brands of the classifier's schema, or None when there are none.

    ``brand`` is the brand for posts that name none. When given it must exist (ConfigError with code
    ``unknown_brand``); when not, ``default`` is used if present, else the only brand if there is one.
    """
    from triage.resources import policies_dir, replies_dir

    policies = Path(policies) if policies is not None else policies_dir()
    replies = Path(replies) if replies is not None else replies_dir()
    loaded = load_policies(classifier.schema, policies, replies)
    if brand is not None and brand not in loaded:
        raise ConfigError(
            f"unknown brand {brand!r}: no policy {policies / (brand + '.yaml')} for schema "
            f"{classifier.schema.name!r} (brands: {', '.join(sorted(loaded)) or 'none'})",
            code="unknown_brand",
        )
    if not loaded:
        return None
    default = brand or (DEFAULT_BRAND if DEFAULT_BRAND in loaded else next(iter(loaded)) if len(loaded) == 1 else None)
    suggesters: dict[str, ReplySuggester] = {}
    repliers: dict[str, ReplySuggester] = {}
    for name, policy in loaded.items():
        if policy.library is None:
            continue
        key = policy.library.name
        if key not in suggesters:
            suggesters[key] = ReplySuggester(policy.library, classifier, context=context)
        repliers[name] = suggesters[key]
    routers = {name: PolicyRouter(policy) for name, policy in loaded.items()}
    sectors = {name: policy.spec.sector for name, policy in loaded.items()}
    return Brands(loaded, BrandRouter(routers, default), BrandReplier(repliers, default, sectors))

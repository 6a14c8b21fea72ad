"""Admitting a post or a correction: the one validation of its texts, and the brand it is triaged for.

Every text of a request is validated here, once, with the engine's limits (``Engine.check``: the service
builds its engine with the API's ``TextLimits``); the inference runner then tells the engine the posts are
checked. The core's check refuses empty texts, including texts of only whitespace, control or zero-width
characters (``empty_text``), texts over the length limit and bidi override controls.
"""

from __future__ import annotations

from serving.auth import Principal
from serving.errors import ApiError
from triage.engine import Engine
from triage.text.validate import check_text
from triage.types import Post


def admit(engine: Engine, post: Post, caller: Principal | None, prefix: str = "") -> Post:
    """Validate a post and resolve its brand for the caller; the post to score (with that brand)."""
    engine.check(post, prefix)
    brand = post.brand if caller is None else caller.brand_for(post.brand, f"{prefix}brand")
    known = engine.brands
    if brand is None and known is not None and engine.default_brand is None:
        raise ApiError(
            422, "brand_required", f"there is no default brand: set {prefix}brand to one of {', '.join(sorted(known))}",
            field=f"{prefix}brand",
        )
    if brand is not None and known is not None and brand not in known:
        raise ApiError(
            422, "unknown_brand", f"no policy for brand {brand!r}; known brands: {', '.join(sorted(known))}",
            field=f"{prefix}brand",
        )
    return post if brand == post.brand else post.model_copy(update={"brand": brand})


def check_feedback_texts(engine: Engine, text: str, note: str | None) -> None:
    """The correction's text (required) and note (optional) under the same rules as a post's text."""
    check_text(text, engine.limits, field="text")
    if note is not None and note.strip():
        check_text(note, engine.limits, field="note")

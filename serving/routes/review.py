"""GET /v1/review-queue: the stored posts an agent should label next, most useful first, with the reason.

The pool is the newest stored posts (``TRIAGE_STORE_URL``; the caller's brands) that nobody has corrected
yet (``learning.feedback``). The live model scores their redacted texts in the inference pool, and
``learning.active.select`` ranks them by uncertainty (margin, entropy), by how rare among the corrections
the labels they may have are, and by diversity (one per embedding cluster). Texts in the answer are the
stored, redacted ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from learning.review import rank_posts
from serving.auth import Principal
from serving.deps import CallerDep, EngineDep, RunnerDep, StoreDep
from serving.errors import ApiError
from serving.feedback import FeedbackStore
from serving.live import LiveDep, LiveState
from serving.openapi import error_responses
from serving.routes.feedback import check_time

router = APIRouter(tags=["feedback"])


class ReviewItem(BaseModel):
    post_id: str
    brand: str
    channel: str
    created_at: str
    redacted_text: str
    labels: dict[str, str] = Field(description="The live model's labels for the stored text now.")
    score: float = Field(description="Priority: uncertainty (0 sure .. 1 no idea) + 3 x rarity of the labels "
                         "it may have (0 .. 1).")
    reasons: list[str] = Field(description="Why this post: the unsure heads' top two labels and margins, a rare "
                               "label it may be, its cluster.")
    cluster: int | None
    heads: dict[str, dict[str, Any]] = Field(description="Per head: label, second, confidence, margin, entropy, score.")


class ReviewQueue(BaseModel):
    model_version: str
    pool: int = Field(description="Stored posts scored (the newest, not yet labeled).")
    labeled_excluded: int = Field(description="Posts of the pool window left out because they already have a "
                                              "correction.")
    items: list[ReviewItem]


def _brands(caller: Principal | None, brand: str | None) -> list[str] | None:
    allowed = caller.key.brands if caller is not None else None
    if brand is not None:
        if allowed is not None and brand not in allowed:
            raise ApiError(403, "forbidden_brand", f"this API key may not read posts of brand {brand!r}", field="brand")
        return [brand]
    return sorted(allowed) if allowed is not None else None


def _pool(live: LiveState, feedback: FeedbackStore, brands: list[str] | None, since: datetime | None, pool: int,
          tenant: str | None) -> tuple[list[Any], int, dict[tuple[str, str], int]]:
    store = live.post_store()
    if store is None:
        raise ApiError(503, "storage_unavailable", "the post store is not configured: set TRIAGE_STORE_URL")
    posts = store.recent_posts(brands=brands, since=since, limit=pool)
    labeled = feedback.corrected_post_ids(tenant)
    fresh = [p for p in posts if p.id not in labeled]
    return fresh, len(posts) - len(fresh), feedback.label_totals(tenant)


@router.get("/v1/review-queue", response_model=ReviewQueue, summary="What to label next",
            responses=error_responses(403, 422, 503, 504))
async def review_queue(
    caller: CallerDep,
    engine: EngineDep,
    runner: RunnerDep,
    feedback: StoreDep,
    live: LiveDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Posts to return.")] = 20,
    pool: Annotated[int, Query(ge=1, le=1000, description="How many of the newest stored posts to consider.")] = 300,
    brand: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="Only posts written at or after (RFC 3339).")] = None,
) -> ReviewQueue:
    """Unlabeled stored posts ranked by the live model's uncertainty and by diversity, each with its reasons."""
    brands = _brands(caller, brand)
    tenant = caller.tenant if caller is not None and caller.key.brands is not None else None
    try:
        posts, excluded, totals = await run_in_threadpool(_pool, live, feedback, brands, check_time(since, "since"),
                                                          pool, tenant)
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(503, "storage_unavailable", f"the post store cannot be read: {type(exc).__name__}") from None
    version = engine.model_info.version
    if not posts:
        return ReviewQueue(model_version=version, pool=0, labeled_excluded=excluded, items=[])
    ranked = await runner.call(lambda: rank_posts(engine.classifier, posts, limit, totals=totals))
    return ReviewQueue(model_version=version, pool=len(posts), labeled_excluded=excluded,
                       items=[ReviewItem(**{k: v for k, v in item.items() if k in ReviewItem.model_fields})
                              for item in ranked])

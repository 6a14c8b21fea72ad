"""GET /v1/audit: the post store's append-only audit log (automated actions, model changes, purges)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from serving.deps import CallerDep
from serving.errors import ApiError
from serving.live import LiveDep, LiveState
from serving.openapi import error_responses
from serving.routes.feedback import check_time

router = APIRouter(tags=["audit"])


class AuditPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="Entries oldest first: id, at, actor, action, model_version, "
                                        "subject, reason (redacted).")
    next_after: int | None = Field(description="Pass as ?after= for the next page; null on the last page.")


def _page(live: LiveState, since: datetime | None, action: str | None, actor: str | None, limit: int,
          after: int | None) -> AuditPage:
    store = live.post_store()
    if store is None:
        raise ApiError(503, "storage_unavailable", "the post store is not configured: set TRIAGE_STORE_URL")
    entries = store.audit_log(since=since, limit=limit + 1, action=action, actor=actor, after=after)
    more = len(entries) > limit
    entries = entries[:limit]
    return AuditPage(items=[e.to_dict() for e in entries], next_after=entries[-1].id if more and entries else None)


@router.get("/v1/audit", response_model=AuditPage, summary="The audit log", responses=error_responses(403, 422, 503))
async def audit(
    caller: CallerDep,
    live: LiveDep,
    since: Annotated[datetime | None, Query(description="Entries at or after (RFC 3339).")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. promoted, hide, escalate.")] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="next_after of the previous page.")] = None,
) -> AuditPage:
    """Who did what, when, with which model, and why; the log spans every brand, so operator keys only."""
    if caller is not None and caller.key.brands is not None:
        raise ApiError(403, "forbidden_brand", "the audit log spans every brand: it needs an operator key (brands *)")
    try:
        return await run_in_threadpool(_page, live, check_time(since, "since"), action, actor, limit, after)
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(503, "storage_unavailable", f"the post store cannot be read: {type(exc).__name__}") from None

"""POST /v1/feedback: store an agent's correction of a decision, redacted; GET /v1/feedback: list them.

A correction names one head's right label (``head``, ``label``: the original contract) and/or any part of
the decision (``corrections``: labels, queue, reply mode, actions, what happened to the suggested reply),
with who (``actor``) and why (``note``). Each corrected field is one stored row (``learning.feedback``).
A suggested reply sent as it was (``reply.outcome = chosen``) is an accepted auto-reply suggestion: it is
also written to the audit log when the post store is configured.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from serving.admission import check_feedback_texts
from serving.auth import Principal
from serving.bodies import JsonBodyRoute
from serving.deps import CallerDep, EngineDep, LogDep, MetricsDep, RunnerDep, StoreDep
from serving.errors import ApiError
from serving.feedback import FeedbackQuery, FeedbackStore, check_correction
from serving.live import LiveDep
from serving.openapi import BODY_ERRORS, error_responses
from serving.requestlog import FeedbackNote
from serving.schemas import (
    FEEDBACK_EXAMPLES,
    FeedbackPage,
    FeedbackRequest,
    FeedbackResponse,
    StoredCorrection,
)
from triage.engine import Engine
from triage.text.validate import check_text

log = logging.getLogger("triage.serving")


class SharedPathRoute(JsonBodyRoute):
    """A route whose path has other methods too: a 405 lists every method of the path in ``Allow``.

    Starlette answers a wrong method with the ``Allow`` of the first route whose path matches, so POST and
    GET /v1/feedback would each claim to be the only one.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            siblings = [r for r in router.routes if isinstance(r, APIRoute) and r.path == self.path] or [self]
            methods = sorted({m for r in siblings for m in r.methods or ()})
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(methods)})
        await super().handle(scope, receive, send)


router = APIRouter(tags=["feedback"], route_class=SharedPathRoute)

Correction = tuple[str, str, dict[str, Any]]  # head, label, extra columns (template_id, reply_text)


def corrections_of(engine: Engine, item: FeedbackRequest) -> list[Correction]:
    """Every corrected field of the request, checked and normalised, in a stable order."""
    if item.head is not None and item.label is None:
        raise ApiError(422, "missing_field", "label is required with head", field="label")
    if item.label is not None and item.head is None:
        raise ApiError(422, "missing_field", "head is required with label", field="head")
    schema = engine.classifier.schema
    out: list[Correction] = []
    if item.head is not None and item.label is not None:
        out.append((item.head, check_correction(schema, item.head, item.label), {}))
    c = item.corrections
    if c is not None:
        for head, label in (c.labels or {}).items():
            out.append((head, check_correction(schema, head, label, f"corrections.labels.{head}"), {}))
        if c.queue is not None:
            out.append(("queue", check_correction(schema, "queue", c.queue, "corrections.queue"), {}))
        if c.reply_mode is not None:
            out.append(("reply_mode", c.reply_mode, {}))
        if c.actions is not None:
            out.append(("actions", check_correction(schema, "actions", "+".join(c.actions), "corrections.actions"), {}))
        if c.reply is not None:
            out.append(("reply", c.reply.outcome, {"template_id": c.reply.template_id, "reply_text": c.reply.text}))
    if not out:
        raise ApiError(422, "missing_field", "give head and label, or corrections", field="head")
    return out


def _redact(engine: Engine, item: FeedbackRequest, corrections: list[Correction]) -> tuple[str, str | None]:
    for _, _, extra in corrections:
        if extra.get("reply_text"):
            extra["reply_text"] = engine.redact(extra["reply_text"])
    note = engine.redact(item.note) if item.note and item.note.strip() else item.note
    return engine.redact(item.text), note


def _check_texts(engine: Engine, item: FeedbackRequest) -> None:
    check_feedback_texts(engine, item.text, item.note)
    reply = item.corrections.reply if item.corrections else None
    if reply is not None and reply.text is not None and reply.text.strip():
        check_text(reply.text, engine.limits, field="corrections.reply.text")


@router.post(
    "/v1/feedback", response_model=FeedbackResponse, status_code=201, summary="Store an agent's correction",
    responses=error_responses(*BODY_ERRORS, 503, 504),
)
async def feedback(
    caller: CallerDep,
    engine: EngineDep,
    runner: RunnerDep,
    store: StoreDep,
    metrics: MetricsDep,
    request_log: LogDep,
    live: LiveDep,
    item: Annotated[FeedbackRequest, Body(openapi_examples=FEEDBACK_EXAMPLES)],
) -> FeedbackResponse:
    """Store the right labels (and queue, reply mode, actions, reply outcome) of a post, with who and why.

    The text, the note and an edited reply are stored redacted.
    """
    corrections = corrections_of(engine, item)
    _check_texts(engine, item)
    # Redaction uses the engine's stages: run it in the inference pool, never beside a model call.
    redacted, note = await runner.call(_redact, engine, item, corrections)
    base = dict(post_id=item.post_id, redacted_text=redacted, note=note, actor=item.actor,
                model_version=item.model_version or engine.model_info.version,
                tenant=caller.tenant if caller else None, source="api")
    rows = [{**base, "head": head, "label": label, **extra} for head, label, extra in corrections]
    try:
        stored = await run_in_threadpool(store.add_many, rows)
    except Exception as exc:
        log.error("feedback store failed", extra={"exc_type": type(exc).__name__})
        raise ApiError(503, "storage_unavailable", "the feedback database cannot be reached; retry later") from None
    for row in stored:
        metrics.feedback.labels(row["head"]).inc()
        if row["head"] == "reply" and row["label"] == "chosen":
            live.audit_reply_accepted(row)
    request_log.feedback = FeedbackNote(head=stored[0]["head"], label=stored[0]["label"], id=stored[0]["id"])
    return FeedbackResponse(**stored[0], corrections=[StoredCorrection(**r) for r in stored])


EARLIEST, LATEST = datetime(1970, 1, 2, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def check_time(value: datetime | None, field: str) -> datetime | None:
    """A time filter within 1970-2200 (naive: UTC), or 422 ``invalid_request`` naming the query field."""
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:
        raise ApiError(422, "invalid_request", f"{field} must lie between 1970 and 2200", field=f"query.{field}")
    return aware


def _tenant_filter(caller: Principal | None, tenant: str | None) -> str | None:
    """A tenant key sees its own corrections only; an operator key (every brand) or no auth sees any."""
    if caller is None or caller.key.brands is None:
        return tenant
    return caller.tenant


def _list(store: FeedbackStore, query: FeedbackQuery, limit: int, after: int | None) -> FeedbackPage:
    rows, next_after = store.page(query, limit=limit, after=after)
    return FeedbackPage(items=[StoredCorrection(**r) for r in rows], next_after=next_after)


@router.get("/v1/feedback", response_model=FeedbackPage, summary="List stored corrections",
            responses=error_responses(422, 503))
async def list_feedback(
    caller: CallerDep,
    store: StoreDep,
    post_id: Annotated[str | None, Query(max_length=200)] = None,
    head: Annotated[str | None, Query(max_length=64)] = None,
    label: Annotated[str | None, Query(max_length=80)] = None,
    kind: Annotated[str | None, Query(pattern="^(label|routing|action|reply)$")] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    model_version: Annotated[str | None, Query(max_length=200)] = None,
    tenant: Annotated[str | None, Query(max_length=64, description="Operator keys only.")] = None,
    since: Annotated[datetime | None, Query(description="Stored at or after (RFC 3339).")] = None,
    until: Annotated[datetime | None, Query(description="Stored before (RFC 3339).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="next_after of the previous page.")] = None,
) -> FeedbackPage:
    """Corrections oldest first, filtered, a page at a time (texts as stored: redacted)."""
    query = FeedbackQuery(post_id=post_id, head=head, label=label, kind=kind, actor=actor, source=source,
                          model_version=model_version, tenant=_tenant_filter(caller, tenant),
                          since=check_time(since, "since"), until=check_time(until, "until"))
    try:
        return await run_in_threadpool(_list, store, query, limit, after)
    except Exception as exc:
        log.error("feedback listing failed", extra={"exc_type": type(exc).__name__})
        raise ApiError(503, "storage_unavailable", "the feedback database cannot be reached; retry later") from None

"""POST /v1/feedback: store an agent's correction, redacted, for the next training run."""

import logging
from typing import Annotated

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from serving.admission import check_feedback_texts
from serving.bodies import JsonBodyRoute
from serving.deps import CallerDep, EngineDep, LogDep, MetricsDep, RunnerDep, StoreDep
from serving.errors import ApiError
from serving.feedback import check_head_label
from serving.openapi import BODY_ERRORS, error_responses
from serving.requestlog import FeedbackNote
from serving.schemas import FEEDBACK_EXAMPLES, FeedbackRequest, FeedbackResponse
from triage.engine import Engine

log = logging.getLogger("triage.serving")
router = APIRouter(tags=["feedback"], route_class=JsonBodyRoute)


def _redact(engine: Engine, item: FeedbackRequest) -> tuple[str, str | None]:
    note = engine.redact(item.note) if item.note and item.note.strip() else item.note
    return engine.redact(item.text), note


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
    item: Annotated[FeedbackRequest, Body(openapi_examples=FEEDBACK_EXAMPLES)],
) -> FeedbackResponse:
    """Store the right label for one head of a post; the text and note are stored redacted."""
    check_head_label(engine.classifier.schema, item.head, item.label)
    check_feedback_texts(engine, item.text, item.note)
    # Redaction uses the engine's stages: run it in the inference pool, never beside a model call.
    redacted, note = await runner.call(_redact, engine, item)
    try:
        row = await run_in_threadpool(
            lambda: store.add(
                post_id=item.post_id, head=item.head, label=item.label, redacted_text=redacted, note=note,
                model_version=item.model_version or engine.model_info.version,
                tenant=caller.tenant if caller else None,
            )
        )
    except Exception as exc:
        log.error("feedback store failed", extra={"exc_type": type(exc).__name__})
        raise ApiError(503, "storage_unavailable", "the feedback database cannot be reached; retry later") from None
    metrics.feedback.labels(item.head).inc()
    request_log.feedback = FeedbackNote(head=item.head, label=item.label, id=row["id"])
    return FeedbackResponse(**row)

"""POST /v1/triage and POST /v1/triage/batch: score posts."""

from typing import Annotated

from fastapi import APIRouter, Body

from serving.admission import admit
from serving.bodies import JsonBodyRoute
from serving.deps import CallerDep, EngineDep, LogDep, MetricsDep, RunnerDep, SettingsDep
from serving.errors import ApiError
from serving.metrics import Metrics
from serving.openapi import BODY_ERRORS, error_responses
from serving.requestlog import RequestLog
from serving.schemas import (
    BATCH_EXAMPLES,
    POST_EXAMPLES,
    RESULT_EXAMPLE,
    BatchRequest,
    BatchResponse,
    PostRequest,
)
from triage.types import TriageResult

router = APIRouter(tags=["triage"], route_class=JsonBodyRoute)


def note_results(metrics: Metrics, log: RequestLog, results: list[TriageResult]) -> None:
    """Count the labels and put them in the request's log line (labels only, never text)."""
    metrics.observe_results(results)
    log.note_labels([r.labels for r in results], results[0].model_version if results else None)


@router.post(
    "/v1/triage", response_model=TriageResult, summary="Triage one post",
    responses={
        200: {"content": {"application/json": {"example": RESULT_EXAMPLE}}},
        **error_responses(*BODY_ERRORS, 503, 504),
    },
)
async def triage_one(
    caller: CallerDep,
    engine: EngineDep,
    runner: RunnerDep,
    metrics: MetricsDep,
    log: LogDep,
    post: Annotated[PostRequest, Body(openapi_examples=POST_EXAMPLES)],
) -> TriageResult:
    """Labels, language, entities, redacted text (and routing and replies when loaded) for one post."""
    result = await runner.triage(admit(engine, post, caller))
    note_results(metrics, log, [result])
    return result


@router.post(
    "/v1/triage/batch", response_model=BatchResponse, summary="Triage several posts",
    responses=error_responses(*BODY_ERRORS, 503, 504),
)
async def triage_batch(
    caller: CallerDep,
    engine: EngineDep,
    runner: RunnerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    log: LogDep,
    batch: Annotated[BatchRequest, Body(openapi_examples=BATCH_EXAMPLES)],
) -> BatchResponse:
    """Up to TRIAGE_MAX_BATCH posts in one model call; results in the order sent. One bad post fails the call."""
    if len(batch.posts) > settings.max_batch:
        raise ApiError(
            422, "batch_too_large",
            f"{len(batch.posts)} posts is more than the limit of {settings.max_batch}; split the batch",
            field="posts",
        )
    posts = [admit(engine, p, caller, prefix=f"posts[{i}].") for i, p in enumerate(batch.posts)]
    results = await runner.triage_batch(posts)
    note_results(metrics, log, results)
    return BatchResponse(results=results)

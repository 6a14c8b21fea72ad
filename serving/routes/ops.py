"""GET /healthz, /readyz and /metrics: for probes and scrapers, without an API key."""

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from serving.deps import MetricsDep, SettingsDep
from serving.errors import error_response
from serving.inference import InferenceRunner
from serving.openapi import error_responses
from serving.schemas import Health, Ready
from triage.engine import Engine

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """200 while the process serves requests (the model may still be loading)."""
    return Health()


@router.get("/readyz", response_model=Ready, summary="Readiness", responses=error_responses(503))
async def readyz(request: Request, settings: SettingsDep) -> Any:
    """200 once the model is loaded and warmed up, while inference keeps up.

    503 ``model_unavailable`` before and while stopping; 503 ``inference_stuck`` while every inference slot
    has been busy for longer than the request timeout, or a call has run past TRIAGE_STUCK_AFTER_S.
    """
    engine: Engine | None = request.app.state.engine
    runner: InferenceRunner | None = request.app.state.runner
    if not request.app.state.ready or engine is None or runner is None:
        return error_response(
            request.scope, 503, "model_unavailable", "the model is not loaded (starting, stopping, or missing)"
        )
    reason = runner.unready_reason(settings.resolved_stuck_after_s())
    if reason is not None:
        return error_response(request.scope, 503, "inference_stuck", f"not ready: {reason}")
    return Ready(model_version=engine.model_info.version)


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Exposition text"}},
)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests, latency histograms, label counts, errors, inference batch sizes (all workers)."""
    body, content_type = await run_in_threadpool(metrics.render)
    return Response(body, media_type=content_type)

"""FastAPI dependencies: what a route needs, read from ``request.app.state``.

``serving.app.create_app`` puts the settings, metrics and key ring on ``app.state``; the worker's lifespan
(``serving.lifecycle``) adds the engine, the inference runner and the feedback store once the model is
loaded and sets ``app.state.ready``. A route declares what it uses::

    async def route(engine: EngineDep, runner: RunnerDep, caller: CallerDep, log: LogDep) -> ...

``EngineDep`` and ``RunnerDep`` answer ``503 model_unavailable`` until the worker is ready and while it
stops; ``CallerDep`` checks the API key (``401``) and is ``None`` when authentication is off.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serving.auth import Principal, authenticate
from serving.errors import ApiError
from serving.feedback import FeedbackStore
from serving.inference import InferenceRunner
from serving.metrics import Metrics
from serving.requestlog import RequestLog, request_log
from serving.settings import ServeSettings
from store.poststore import PostStore
from triage.engine import Engine
from triage.stream import IncidentTracker

# The dependencies below are ``async def`` although none awaits anything: FastAPI runs a plain ``def``
# dependency in its thread pool, one thread hop per dependency per request (six on POST /v1/triage), which
# measured ~1 ms of an idle request on 2 cores. They only read app state and headers, so they run inline.


def _unavailable() -> ApiError:
    return ApiError(503, "model_unavailable", "the model is not loaded (the server is starting or stopping)")


async def get_settings(request: Request) -> ServeSettings:
    settings: ServeSettings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_engine(request: Request) -> Engine:
    engine: Engine | None = request.app.state.engine
    if engine is None or not request.app.state.ready:
        raise _unavailable()
    return engine


async def get_runner(request: Request) -> InferenceRunner:
    runner: InferenceRunner | None = request.app.state.runner
    if runner is None or not request.app.state.ready:
        raise _unavailable()
    return runner


async def get_store(request: Request) -> FeedbackStore:
    store: FeedbackStore | None = request.app.state.store
    if store is None:
        raise ApiError(503, "storage_unavailable", "the feedback store is not open")
    return store


def get_post_store(request: Request) -> PostStore:
    """The post store (``TRIAGE_STORE_URL``), or 503 ``store_not_configured``. Call it inside a handler that
    takes a body, so that a malformed body is refused (422) before this is asked."""
    store: PostStore | None = getattr(request.app.state, "post_store", None)
    if store is None:
        raise ApiError(503, "store_not_configured", "the post store is off on this server: set TRIAGE_STORE_URL")
    return store


async def post_store_dependency(request: Request) -> PostStore:
    return get_post_store(request)


async def get_tracker(request: Request) -> IncidentTracker:
    """The crisis detector's incidents, or 503 ``store_not_configured``."""
    tracker: IncidentTracker | None = getattr(request.app.state, "tracker", None)
    if tracker is None:
        raise ApiError(503, "store_not_configured", "incident detection is off on this server: set "
                       "TRIAGE_STORE_URL (and leave TRIAGE_STREAM_DETECT on)")
    return tracker


async def get_log(request: Request) -> RequestLog:
    """The request's typed log record (a detached one when the app runs without its middleware)."""
    return request_log(request.scope) or RequestLog(request_id="")


async def get_caller(request: Request, log: Annotated[RequestLog, Depends(get_log)]) -> Principal | None:
    caller = authenticate(request.headers, request.app.state.keyring)
    if caller is not None:
        log.tenant = caller.tenant
    return caller


SettingsDep = Annotated[ServeSettings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
EngineDep = Annotated[Engine, Depends(get_engine)]
RunnerDep = Annotated[InferenceRunner, Depends(get_runner)]
StoreDep = Annotated[FeedbackStore, Depends(get_store)]
LogDep = Annotated[RequestLog, Depends(get_log)]
CallerDep = Annotated[Principal | None, Depends(get_caller)]
PostStoreDep = Annotated[PostStore, Depends(post_store_dependency)]
TrackerDep = Annotated[IncidentTracker, Depends(get_tracker)]


async def single_query_values(request: Request) -> None:
    """Every query parameter of this API is a single value: a repeated one is refused, not silently
    reduced to its last copy (``?brand=a&brand=b`` must not read brand b's data for a caller asking for a)."""
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key in seen:
            raise ApiError(422, "invalid_request", f"query parameter {key!r} is given more than once; give it once",
                           field=key)
        seen.add(key)

"""The FastAPI application: ``create_app(settings, engine=None)``.

The lifespan loads the engine once per worker process (or takes the injected one, for tests), warms it
up, opens the feedback store and starts the inference runner; on shutdown, after uvicorn has drained
the in-flight requests, it stops them in reverse order. Routes are thin: check the caller, check the
input (``ServiceState.admit``), run the engine in the inference pool, count, return.
"""

# No ``from __future__ import annotations`` here: FastAPI must see the route signatures' real types,
# including the ``Caller`` alias that exists only inside ``_add_routes``.
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from serving.auth import Principal, make_auth
from serving.errors import ERROR_CODES, LOG_KEY, ApiError, ErrorResponse, error_response, install_handlers
from serving.feedback import FeedbackStore, check_head_label
from serving.inference import InferenceRunner
from serving.metrics import Metrics
from serving.middleware import RequestMiddleware
from serving.schemas import (
    BATCH_EXAMPLES,
    FEEDBACK_EXAMPLES,
    POST_EXAMPLES,
    RESULT_EXAMPLE,
    BatchRequest,
    BatchResponse,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    Limits,
    ModelInfo,
    PostRequest,
    Ready,
)
from serving.settings import ServeSettings
from triage import __version__
from triage.engine import Engine
from triage.errors import TriageError
from triage.prepare import TextStages
from triage.text.validate import TextLimits, check_text, decode_utf8
from triage.types import Post, TriageResult

log = logging.getLogger("triage.serving")

DESCRIPTION = """\
NLP triage for social customer care, Hebrew and English first: labels per head (intent, sentiment,
urgency) with calibrated probabilities, language, personal and case data with a redacted text, and,
when the brand's policy is loaded, routing and suggested replies.

Send `Content-Type: application/json` bodies in UTF-8. With API keys configured, send your key as
`X-API-Key: <key>` or `Authorization: Bearer <key>`. Every error has the shape
`{"error": {"code", "message", "field"}, "request_id"}` with a stable `code`; see docs/SERVING.md.
"""


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return, listing their codes."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in codes:
        names = [c for c, (s, _) in ERROR_CODES.items() if s == status]
        out[status] = {"model": ErrorResponse, "description": "Error codes: " + ", ".join(f"`{n}`" for n in names)}
    return out


_BODY_ERRORS = (400, 408, 413, 415, 422, 500)


class JsonBodyRoute(APIRoute):
    """Checks a JSON body before FastAPI parses it: media type, strict UTF-8, JSON syntax, no lone surrogates.

    FastAPI would answer broken UTF-8 with a generic 400 and would let a lone surrogate (``"\\ud800"``)
    through to the response encoder; here each becomes a clear, coded error.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                await _check_json_body(request)
            return await handler(request)

        return checked


async def _check_json_body(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    raw = await request.body()
    if not raw:
        return  # FastAPI reports the missing body as missing_field
    text = decode_utf8(raw, field="body")
    try:
        data = json.loads(text)
        where = _lone_surrogate(data, "")
    except json.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        # Thousands of nested brackets fit in a small body; no request of this API nests deeper than 4.
        raise ApiError(400, "malformed_json", "the body's JSON is nested too deeply") from None
    if where is not None:
        raise ApiError(400, "invalid_utf8", f"{where or 'the body'} holds a lone UTF-16 surrogate escape", field=where or None)


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The path of the first string (or key) holding a lone surrogate, else None."""
    if isinstance(value, str):
        return path if any("\ud800" <= c <= "\udfff" for c in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if _lone_surrogate(key, sub) is not None:
                return path  # the key itself: report the object holding it ("" is the body)
            found = _lone_surrogate(item, sub)
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


class ServiceState:
    """What the routes share in one worker: settings, engine, runner, feedback store, metrics."""

    def __init__(self, settings: ServeSettings, metrics: Metrics, injected: Engine | None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.injected = injected
        self.limits = TextLimits(max_chars=settings.max_chars, reject_bidi_overrides=True)
        self.stages = TextStages(self.limits)
        self.engine: Engine | None = None
        self.runner: InferenceRunner | None = None
        self.store: FeedbackStore | None = None
        self.ready = False

    def _load_engine(self) -> Engine:
        from triage.loading import load_engine

        # Keyword arguments only: the loader grows options (policies, replies) independently of serving.
        options: dict[str, Any] = {"model_dir": self.settings.model_dir, "limits": self.limits, "threads": self.settings.threads}
        if self.settings.brand is not None:
            options["brand"] = self.settings.brand
        return load_engine(**options)

    @staticmethod
    def _warm_up(engine: Engine) -> None:
        # One post per script: the first Arabic or Russian request would otherwise pay for loading
        # the language detector's models.
        engine.warm_up()

    async def start(self) -> None:
        try:
            engine = self.injected
            if engine is None:
                engine = await run_in_threadpool(self._load_engine)
            if self.settings.warm_up:
                await run_in_threadpool(self._warm_up, engine)
        except TriageError as exc:
            log.error("start-up failed: cannot load the model", extra={"code": exc.code, "detail": str(exc)})
            raise
        self.engine = engine
        self.store = FeedbackStore(self.settings.database_url)
        try:
            await run_in_threadpool(self.store.ensure_schema)
        except Exception as exc:
            # Triage works without the store; feedback requests retry and answer 503 while it is down.
            log.error("feedback store unavailable at start-up", extra={"exc_type": type(exc).__name__})
        self.runner = InferenceRunner(
            engine, self.metrics, concurrency=self.settings.threads, timeout_s=self.settings.request_timeout_s,
            microbatch=self.settings.microbatch, microbatch_window_ms=self.settings.microbatch_window_ms,
            microbatch_max=self.settings.microbatch_max,
        )
        await self.runner.start()
        self.metrics.model_info.labels(engine.classifier.version, engine.schema_name).set(1)
        self.ready = True
        log.info(
            "ready",
            extra={
                "pid": os.getpid(), "model_version": engine.classifier.version, "schema": engine.schema_name,
                "auth": self.settings.auth_enabled, "microbatch": self.settings.microbatch,
                "threads": self.settings.threads,
            },
        )

    async def stop(self) -> None:
        self.ready = False
        if self.runner is not None:
            await self.runner.stop()
        if self.store is not None:
            self.store.close()
        self.metrics.mark_process_dead()
        log.info("stopped", extra={"pid": os.getpid()})

    def require(self) -> tuple[Engine, InferenceRunner]:
        if self.engine is None or self.runner is None or not self.ready:
            raise ApiError(503, "model_unavailable", "the model is not loaded (the server is starting or stopping)")
        return self.engine, self.runner

    def admit(self, engine: Engine, post: Post, principal: Principal | None, prefix: str = "") -> Post:
        """Check a post against the API's limits and the caller's brands; return it with its effective brand."""
        # The one validation of this post: the engine is then told it is checked (the service's limits).
        self.stages.check(post, prefix)
        brand = post.brand if principal is None else principal.brand_for(post.brand, f"{prefix}brand")
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

    def note(self, request: Request, results: Iterable[TriageResult]) -> None:
        """Count the labels and put them in the request's log line (labels only, never text)."""
        results = list(results)
        self.metrics.observe_results(results)
        note = request.scope.get(LOG_KEY)
        if isinstance(note, dict):
            labels = [r.labels for r in results]
            note["labels"] = labels[0] if len(labels) == 1 else labels
            note["model_version"] = results[0].model_version if results else None


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.triage
    return state


State = Annotated[ServiceState, Depends(get_state)]


def _add_routes(router: APIRouter, auth: Callable[..., Any], auth_on: bool) -> None:
    """Define the routes on ``router`` (the app's own, so the middleware can match paths before routing)."""
    Caller = Annotated[Principal | None, Depends(auth)]
    auth_errors = (401, 403) if auth_on else ()

    @router.post(
        "/v1/triage", response_model=TriageResult, tags=["triage"], summary="Triage one post",
        responses={
            200: {"content": {"application/json": {"example": RESULT_EXAMPLE}}},
            **_responses(*_BODY_ERRORS, *auth_errors, 503, 504),
        },
    )
    async def triage_one(
        request: Request,
        state: State,
        caller: Caller,
        post: Annotated[PostRequest, Body(openapi_examples=POST_EXAMPLES)],
    ) -> TriageResult:
        """Labels, language, entities, redacted text (and routing and replies when loaded) for one post."""
        engine, runner = state.require()
        result = await runner.triage(state.admit(engine, post, caller))
        state.note(request, [result])
        return result

    @router.post(
        "/v1/triage/batch", response_model=BatchResponse, tags=["triage"], summary="Triage several posts",
        responses=_responses(*_BODY_ERRORS, *auth_errors, 503, 504),
    )
    async def triage_batch(
        request: Request,
        state: State,
        caller: Caller,
        batch: Annotated[BatchRequest, Body(openapi_examples=BATCH_EXAMPLES)],
    ) -> BatchResponse:
        """Up to TRIAGE_MAX_BATCH posts in one model call; results in the order sent. One bad post fails the call."""
        engine, runner = state.require()
        if len(batch.posts) > state.settings.max_batch:
            raise ApiError(
                422, "batch_too_large",
                f"{len(batch.posts)} posts is more than the limit of {state.settings.max_batch}; split the batch",
                field="posts",
            )
        posts = [state.admit(engine, p, caller, prefix=f"posts[{i}].") for i, p in enumerate(batch.posts)]
        results = await runner.triage_batch(posts)
        state.note(request, results)
        return BatchResponse(results=results)

    @router.post(
        "/v1/feedback", response_model=FeedbackResponse, status_code=201, tags=["feedback"],
        summary="Store an agent's correction",
        responses=_responses(*_BODY_ERRORS, *auth_errors, 503, 504),
    )
    async def feedback(
        request: Request,
        state: State,
        caller: Caller,
        item: Annotated[FeedbackRequest, Body(openapi_examples=FEEDBACK_EXAMPLES)],
    ) -> FeedbackResponse:
        """Store the right label for one head of a post; the text and note are stored redacted."""
        engine, runner = state.require()
        check_head_label(engine.classifier.schema, item.head, item.label)
        check_text(item.text, state.limits, field="text")
        if item.note is not None and item.note.strip():
            check_text(item.note, state.limits, field="note")

        def redact() -> tuple[str, str | None]:
            note = engine.redact(item.note) if item.note and item.note.strip() else item.note
            return engine.redact(item.text), note

        # Redaction uses the engine's stages: run it in the inference pool, never beside a model call.
        redacted, note = await runner.call(redact)
        store = state.store
        if store is None:
            raise ApiError(503, "storage_unavailable", "the feedback store is not open")
        try:
            row = await run_in_threadpool(
                lambda: store.add(
                    post_id=item.post_id, head=item.head, label=item.label, redacted_text=redacted, note=note,
                    model_version=item.model_version or engine.classifier.version,
                    tenant=caller.tenant if caller else None,
                )
            )
        except Exception as exc:
            log.error("feedback store failed", extra={"exc_type": type(exc).__name__})
            raise ApiError(503, "storage_unavailable", "the feedback database cannot be reached; retry later") from None
        state.metrics.feedback.labels(item.head).inc()
        log_note = request.scope.get(LOG_KEY)
        if isinstance(log_note, dict):
            log_note["feedback"] = {"head": item.head, "label": item.label, "id": row["id"]}
        return FeedbackResponse(**row)

    @router.get(
        "/v1/model", response_model=ModelInfo, tags=["model"], summary="The loaded model",
        responses=_responses(*auth_errors, 503),
    )
    async def model_info(state: State, caller: Caller) -> ModelInfo:
        """Model version, label schema, evaluation summary, brands and the API's limits."""
        engine, _ = state.require()
        brands = engine.brands
        s = state.settings
        return ModelInfo.model_validate(
            {
                "model_version": engine.classifier.version,
                "schema_name": engine.schema_name,
                "schema": engine.classifier.schema,
                "metrics": engine.model_info.metrics,
                "brands": sorted(brands) if brands is not None else None,
                "microbatch": s.microbatch,
                "limits": Limits(
                    max_batch=s.max_batch, max_chars=s.max_chars, max_body_bytes=s.max_body_bytes,
                    request_timeout_s=s.request_timeout_s,
                ),
            }
        )

    @router.get("/healthz", response_model=Health, tags=["operations"], summary="Liveness")
    async def healthz() -> Health:
        """200 while the process serves requests (the model may still be loading)."""
        return Health()

    @router.get(
        "/readyz", response_model=Ready, tags=["operations"], summary="Readiness",
        responses=_responses(503),
    )
    async def readyz(request: Request, state: State) -> Any:
        """200 once the model is loaded and warmed up; 503 model_unavailable before and while stopping."""
        if not state.ready or state.engine is None:
            return error_response(
                request.scope, 503, "model_unavailable", "the model is not loaded (starting, stopping, or missing)"
            )
        return Ready(model_version=state.engine.classifier.version)

    @router.get(
        "/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Exposition text"}},
    )
    async def metrics(state: State) -> Response:
        """Requests, latency histograms, label counts, errors, inference batch sizes (all workers)."""
        body, content_type = await run_in_threadpool(state.metrics.render)
        return Response(body, media_type=content_type)


def create_app(settings: ServeSettings | None = None, engine: Engine | None = None) -> FastAPI:
    """The application. ``engine``: use this engine instead of loading the model (tests, embedding)."""
    settings = settings or ServeSettings()
    metrics = Metrics()
    state = ServiceState(settings, metrics, engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="triage",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "triage", "description": "Score posts."},
            {"name": "feedback", "description": "Agents' corrections, for retraining."},
            {"name": "model", "description": "What is loaded."},
            {"name": "operations", "description": "Health, readiness, metrics."},
        ],
    )
    app.state.triage = state
    app.add_middleware(
        RequestMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.request_timeout_s, router=app.router,
    )
    install_handlers(app)
    app.router.route_class = JsonBodyRoute
    _add_routes(app.router, make_auth(settings.keyring), settings.auth_enabled)
    return app


def create_app_from_env() -> FastAPI:
    """The factory uvicorn's workers call (``serving.app:create_app_from_env``): settings from TRIAGE_*."""
    return create_app(ServeSettings())


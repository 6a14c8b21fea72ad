"""A worker's life: load and warm up the engine, serve, watch for stuck inference, stop in bounded time.

``start`` runs in the app's lifespan, once per worker process: it loads the model (or takes the injected
engine), warms it up, opens the feedback store, starts the inference runner and a watchdog, and only then
marks the worker ready. ``stop`` runs after uvicorn has drained the in-flight requests: it stops the runner
without waiting on a stuck model call for more than ``STOP_WAIT_S``, so a worker always exits.

The watchdog checks the runner every half second. While every inference slot has been busy for longer
than the request timeout, or one call has run for longer than ``TRIAGE_STUCK_AFTER_S`` (default 3 x the
request timeout), ``/readyz`` answers 503. A worker run by ``serving.supervisor`` whose call is stuck
past that limit restarts itself: it stops taking connections, lets the other requests finish, exits
with ``EXIT_RECYCLED`` and the supervisor starts a fresh worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from serving import live, streaming
from serving.exits import EXIT_RECYCLED, supervised
from serving.feedback import FeedbackStore
from serving.inference import InferenceRunner
from serving.metrics import Metrics
from serving.settings import ServeSettings
from triage.engine import Engine
from triage.errors import TriageError
from triage.text.validate import TextLimits

log = logging.getLogger("triage.serving")

STOP_WAIT_S = 1.0  # how long stopping waits for inference calls still running before abandoning them
WATCH_INTERVAL_S = 0.5


def _load_engine(settings: ServeSettings, limits: TextLimits) -> Engine:
    # With TRIAGE_REGISTRY: the registry's live model, read now (a promotion may have happened since start).
    return live.load_engine_from(settings, limits, live.resolve_model_dir(settings))


async def start(app: FastAPI, injected: Engine | None) -> None:
    """Load, warm up, open, start; then mark the worker ready (see the module docstring)."""
    settings: ServeSettings = app.state.settings
    metrics: Metrics = app.state.metrics
    try:
        engine = injected if injected is not None else await run_in_threadpool(_load_engine, settings, app.state.limits)
        if settings.warm_up:
            # One post per script: the first Arabic or Russian request would otherwise pay for loading
            # the language detector's models.
            await run_in_threadpool(engine.warm_up)
    except TriageError as exc:
        log.error("start-up failed: cannot load the model", extra={"code": exc.code, "detail": str(exc)})
        raise
    store = FeedbackStore(settings.database_url)
    try:
        await run_in_threadpool(store.ensure_schema)
    except Exception as exc:
        # Triage works without the store; feedback requests retry and answer 503 while it is down.
        log.error("feedback store unavailable at start-up", extra={"exc_type": type(exc).__name__})
    # The post store, context, crisis detector and webhooks, when TRIAGE_STORE_URL is set: serving.streaming.
    engine = await streaming.start(app, engine)
    # An InferenceRunner that also hands results to the learning loop (shadow model, audit): serving.live.
    runner = live.LiveState.for_app(app).make_runner(engine)
    await runner.start()
    app.state.engine, app.state.store, app.state.runner = engine, store, runner
    app.state.watchdog = asyncio.create_task(_watch(app, runner, settings), name="triage-watchdog")
    version = engine.model_info.version
    metrics.model_info.labels(version, engine.schema_name).set(1)
    # Registry watcher (hot swap of a promoted model), shadow model, audit writer: serving.live.
    await live.start(app, engine, watchdog=_restart_watchdog, stop_wait_s=STOP_WAIT_S)
    app.state.ready = True
    log.info(
        "ready",
        extra={
            "pid": os.getpid(), "model_version": version, "schema": engine.schema_name,
            "auth": settings.auth_enabled, "microbatch": settings.microbatch, "threads": settings.threads,
        },
    )


async def stop(app: FastAPI) -> None:
    """Stop in bounded time: runner (abandoning stuck calls), store, metrics; exit if recycling."""
    app.state.ready = False
    watchdog: asyncio.Task[None] | None = app.state.watchdog
    if watchdog is not None:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    await live.stop(app)
    runner: InferenceRunner | None = app.state.runner
    if runner is not None:
        await runner.stop(STOP_WAIT_S)
    await streaming.stop(app)
    store: FeedbackStore | None = app.state.store
    if store is not None:
        store.close()
    app.state.metrics.mark_process_dead()
    log.info("stopped", extra={"pid": os.getpid()})
    if app.state.recycling:
        _flush_logs()
        os._exit(EXIT_RECYCLED)  # the supervisor starts a fresh worker; a stuck thread cannot delay this


def _restart_watchdog(app: FastAPI, runner: InferenceRunner) -> None:
    """Watch ``runner`` instead (the learning loop swapped in a promoted model's runner)."""
    old: asyncio.Task[None] | None = app.state.watchdog
    if old is not None:
        old.cancel()
    app.state.watchdog = asyncio.create_task(_watch(app, runner, app.state.settings), name="triage-watchdog")


async def _watch(app: FastAPI, runner: InferenceRunner, settings: ServeSettings) -> None:
    """Log readiness changes caused by busy or stuck inference; recycle a supervised stuck worker."""
    stuck_after = settings.resolved_stuck_after_s()
    unready = False
    while True:
        await asyncio.sleep(min(WATCH_INTERVAL_S, stuck_after / 4))
        reason = runner.unready_reason(stuck_after)
        if (reason is not None) != unready:
            unready = reason is not None
            if reason is not None:
                log.warning(f"not ready: {reason}")
            else:
                log.info("ready again: the inference slots are free")
        if runner.longest_running_s() > stuck_after and supervised():
            log.error(f"recycling this worker: {reason}; the supervisor starts a fresh one", extra={"pid": os.getpid()})
            app.state.ready = False
            app.state.recycling = True
            signal.raise_signal(signal.SIGTERM)  # uvicorn stops accepting, drains, then runs stop()
            return


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()

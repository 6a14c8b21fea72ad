"""The stream in the service: post store, context, crisis detector, webhooks (``TRIAGE_STORE_URL``).

``start(app, engine)`` runs once per worker, after the engine is loaded. With ``TRIAGE_STORE_URL`` set it
opens the post store (``store.PostStore``, with ``TRIAGE_IDENTITY_KEY``), the crisis detector over the
store's state table (shared by every worker: compare-and-set), and a webhook sender
(``TRIAGE_WEBHOOK_URLS``, ``TRIAGE_WEBHOOK_SECRET``); it returns the engine connected to them
(``triage.engine.StreamHooks``): every triaged post gets its context from the store before the model runs,
is counted by the detector (posts of an open incident are routed again with it), and is saved, redacted.
A background task resolves quiet incidents every ``TRIAGE_INCIDENT_SWEEP_S`` and applies
``TRIAGE_STORE_RETENTION`` once a day.

Nothing here can fail a triage request: a store that is down at start-up is retried on each call, and
while it is down posts are triaged alone (their context says so) and not stored; webhooks are delivered
from a thread of their own. ``app.state.post_store`` and ``app.state.tracker`` serve ``/v1/events``,
``/v1/posts`` and ``/v1/incidents`` (``serving.routes.events``, ``serving.routes.incidents``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from serving.live import LiveState
from serving.settings import ServeSettings
from store.poststore import PostStore
from store.stream import Stream, connect_stream
from store.webhooks import WebhookSender
from triage.context.identity import IdentityKey
from triage.engine import Engine

log = logging.getLogger("triage.serving")
RETENTION_EVERY_S = 24 * 3600.0


@dataclass
class StreamState:
    """A worker's stream parts (``app.state.stream``)."""

    stream: Stream
    sender: WebhookSender | None
    task: asyncio.Task[None] | None = None


def open_stream(settings: ServeSettings, engine: Engine) -> StreamState | None:
    """The store, tracker and webhook sender of ``settings`` around ``engine`` (None without a store URL)."""
    if not settings.store_url:
        return None
    key = IdentityKey.from_text(settings.identity_key) if settings.identity_key else None
    store = PostStore(settings.store_url, identity_key=key, redact=engine.redact)
    try:
        store.ensure_schema()
    except Exception as exc:  # retried by every later call; triage works meanwhile
        log.error("post store unavailable at start-up", extra={"exc_type": type(exc).__name__})
    if store.identity_key is None:
        log.warning("TRIAGE_IDENTITY_KEY is not set: customers are not recognised across posts and channels")
    sender = None
    if settings.webhook_urls and settings.webhook_secret:
        sender = WebhookSender(settings.webhook_urls, settings.webhook_secret, timeout_s=settings.webhook_timeout_s,
                               retries=settings.webhook_retries)
    stream = connect_stream(engine, store, listeners=[sender] if sender else [], detect=settings.stream_detect)
    return StreamState(stream, sender)


async def start(app: FastAPI, engine: Engine) -> Engine:
    """Open the stream for this worker; the engine to serve (``engine`` itself without a store)."""
    settings: ServeSettings = app.state.settings
    state = await run_in_threadpool(open_stream, settings, engine)
    app.state.stream = state
    app.state.post_store = state.stream.store if state else None
    app.state.tracker = state.stream.tracker if state and settings.stream_detect else None
    if state is None:
        return engine
    LiveState.for_app(app).stream_hooks = state.stream.engine.stream  # a model swapped in later keeps it
    state.task = asyncio.create_task(_maintain(app, state, settings), name="triage-stream")
    log.info("stream on", extra={"incidents": settings.stream_detect, "webhooks": len(settings.webhook_urls),
                                 "identity_key": state.stream.store.identity_key is not None})
    return state.stream.engine


async def stop(app: FastAPI) -> None:
    """Stop the maintenance task, deliver queued webhooks (2 s at most), close the store."""
    state: StreamState | None = getattr(app.state, "stream", None)
    if state is None:
        return
    if state.task is not None:
        state.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await state.task
    if state.sender is not None:
        await run_in_threadpool(state.sender.close, 2.0)
    state.stream.store.close()


async def _maintain(app: FastAPI, state: StreamState, settings: ServeSettings) -> None:
    """Resolve quiet incidents every ``incident_sweep_s``; apply the retention setting once a day."""
    last_retention: float | None = None
    while True:
        await asyncio.sleep(settings.incident_sweep_s)
        if settings.stream_detect:
            await _guarded("incident sweep", state.stream.tracker.sweep, datetime.now(UTC))
        if settings.store_retention and (last_retention is None
                                         or time.monotonic() - last_retention >= RETENTION_EVERY_S):
            last_retention = time.monotonic()
            for brand, days in settings.store_retention.items():
                await _guarded("retention", state.stream.store.apply_retention, brand, days)


async def _guarded(what: str, fn: Any, *args: Any) -> None:
    try:
        await run_in_threadpool(fn, *args)
    except Exception as exc:  # the next round tries again
        log.error(f"{what} failed", extra={"exc_type": type(exc).__name__})

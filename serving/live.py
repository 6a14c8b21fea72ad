"""What a worker keeps beside its engine for the learning loop: the model registry, shadow mode, audit.

- **Registry** (``TRIAGE_REGISTRY``): the worker loads the registry's live model at start-up and polls
  ``registry.json`` every ``TRIAGE_REGISTRY_POLL_S``. When the live pointer changes (``triage models
  promote`` / ``rollback``) it loads and warms the new model in a thread while the old one keeps serving,
  then swaps engine and inference runner between two requests. A request that already holds the old
  runner finishes on it: the old runner is stopped only ``TRIAGE_REQUEST_TIMEOUT_S`` + 1 s later, when
  every such request has completed or timed out. A model that fails to load is logged and reported by
  ``GET /v1/models``; the old one keeps serving. Each worker swaps on its own.
- **Shadow** (the registry's ``shadow`` pointer): a candidate classifier scores a sample
  (``TRIAGE_SHADOW_SAMPLE``) of live posts on a thread of its own (``learning.shadow``); agreement per
  head is in ``GET /v1/models/shadow`` and in the ``triage_shadow_compared`` metric (all workers).
- **Audit** (``TRIAGE_STORE_URL`` configured and ``TRIAGE_AUDIT_ACTIONS``): every hide, like and escalate
  the engine decides, and every suggested reply an agent sends as it was, goes to the post store's
  append-only audit log from a writer thread (``learning.audit``).

The runner is an ``ObservedRunner``: after each model call it hands the results to ``LiveState.observe``,
which only queues work for those threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool

from learning.audit import AuditQueue, action_entries, configured_store_url, open_store
from learning.registry import Registry
from learning.shadow import ShadowScorer
from serving.inference import InferenceRunner
from serving.metrics import Metrics
from serving.settings import ServeSettings
from triage.classify.base import Classifier
from triage.engine import Engine
from triage.text.validate import TextLimits
from triage.types import Post, TriageResult

log = logging.getLogger("triage.serving")
EngineLoader = Callable[[Path], Engine]


class ObservedRunner(InferenceRunner):
    """The inference runner, handing every model call's results to ``observe`` (which must only queue)."""

    def __init__(self, *args: Any, observe: Callable[[list[TriageResult]], None] | None = None,
                 **kwargs: Any) -> None:
        self.observe = observe
        super().__init__(*args, **kwargs)

    def _score(self, posts: Sequence[Post]) -> list[TriageResult]:
        results = super()._score(posts)
        if self.observe is not None:
            try:
                self.observe(results)
            except Exception as exc:  # the learning loop never fails a live request
                log.warning("result observer failed", extra={"exc_type": type(exc).__name__})
        return results


@dataclass
class LiveState:
    """The worker's learning-loop state (``app.state.live``)."""

    settings: ServeSettings
    metrics: Metrics
    loader: EngineLoader | None = None
    registry: Registry | None = None
    live_key: str | None = None
    load_error: str | None = None
    failed_key: str | None = None
    shadow: ShadowScorer | None = None
    shadow_key: str | None = None
    audit: AuditQueue | None = None
    fingerprint: tuple[int, int] | None = None
    switches: int = 0
    restart_watchdog: Callable[[FastAPI, InferenceRunner], None] | None = None
    stop_wait_s: float = 1.0
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _shadow_counter: Counter | None = None
    _post_store: Any = None
    stream_hooks: Any = None  # triage.engine.StreamHooks (serving.streaming): every runner's engine gets them

    @classmethod
    def for_app(cls, app: FastAPI) -> LiveState:
        live: LiveState | None = getattr(app.state, "live", None)
        if live is None:
            settings: ServeSettings = app.state.settings
            live = cls(settings, app.state.metrics, loader=getattr(app.state, "engine_loader", None),
                       registry=Registry(settings.registry) if settings.registry is not None else None)
            app.state.live = live
        return live

    # -- runners and observers -------------------------------------------------------------------------
    def make_runner(self, engine: Engine) -> ObservedRunner:
        s = self.settings
        if self.stream_hooks is not None:  # a swapped-in model keeps the post store and the crisis detector
            engine = engine.with_stream(self.stream_hooks)
        return ObservedRunner(
            engine, self.metrics, concurrency=s.threads, timeout_s=s.request_timeout_s, microbatch=s.microbatch,
            microbatch_window_ms=s.microbatch_window_ms, microbatch_max=s.microbatch_max, observe=self.observe,
        )

    def observe(self, results: list[TriageResult]) -> None:
        if self.shadow is not None:
            self.shadow.submit(results)
        if self.audit is not None:
            entries = action_entries(results)
            if entries:
                self.audit.submit(entries)

    def audit_reply_accepted(self, row: dict[str, Any]) -> None:
        """An agent sent a suggested reply as it was: an accepted auto-reply suggestion."""
        if self.audit is not None:
            self.audit.submit([{"actor": row.get("actor") or row.get("tenant") or "agent", "action": "reply_accepted",
                                "model_version": row.get("model_version"), "subject": row["post_id"],
                                "reason": f"template {row.get('template_id') or '?'}: {row.get('note') or ''}"}])

    # -- the post store (audit log, review queue) ------------------------------------------------------
    def post_store(self) -> Any:
        """The post store when ``TRIAGE_STORE_URL`` (or the settings' store_url) is configured, else None."""
        if self._post_store is None:
            url = configured_store_url(getattr(self.settings, "store_url", None))
            self._post_store = open_store(url) if url else False
        return self._post_store or None

    def shadow_counter(self) -> Counter:
        if self._shadow_counter is None:
            self._shadow_counter = Counter(
                "triage_shadow_compared", "Posts scored by the shadow model, per head, by agreement with the live one.",
                ["head", "agree"], registry=self.metrics.registry)
        return self._shadow_counter

    def status(self) -> dict[str, Any]:
        return {"registry": str(self.registry.root) if self.registry else None, "live": self.live_key,
                "shadow": self.shadow_key, "load_error": self.load_error, "switches": self.switches,
                "audit_actions": self.audit is not None, "pid": os.getpid()}


def get_live(request: Request) -> LiveState:
    return LiveState.for_app(request.app)


LiveDep = Annotated[LiveState, Depends(get_live)]


def resolve_model_dir(settings: ServeSettings) -> Path | None:
    """The registry's live model folder when a registry with a live model is configured, else the setting."""
    if settings.registry is not None:
        live = Registry(settings.registry).live_dir()
        if live is not None:
            return live
    return settings.model_dir


# -- start, stop, swap ---------------------------------------------------------------------------------


def load_engine_from(settings: ServeSettings, limits: TextLimits, model_dir: Path | None) -> Engine:
    from triage.loading import load_engine

    return load_engine(model_dir, limits=limits, threads=settings.threads, brand=settings.brand)


async def start(app: FastAPI, engine: Engine, *, watchdog: Callable[[FastAPI, InferenceRunner], None] | None = None,
                stop_wait_s: float = 1.0) -> None:
    """After the worker's engine is ready: audit writer, shadow, registry watcher.

    ``watchdog(app, runner)`` restarts the readiness watchdog on a swapped-in runner; ``stop_wait_s``: how
    long a retired runner waits for its last calls.
    """
    live = LiveState.for_app(app)
    live.live_key = engine.model_info.version
    live.restart_watchdog, live.stop_wait_s = watchdog, stop_wait_s
    store = live.post_store() if live.settings.audit_actions else None
    if store is not None:
        live.audit = AuditQueue(store)
    if live.registry is not None:
        live.fingerprint = live.registry.fingerprint()
        data = await run_in_threadpool(live.registry.load)
        await _set_shadow(app, data.get("shadow"))
        task = asyncio.create_task(_watch_registry(app), name="triage-registry")
        live.tasks.add(task)


async def stop(app: FastAPI) -> None:
    live: LiveState | None = getattr(app.state, "live", None)
    if live is None:
        return
    for task in list(live.tasks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if live.shadow is not None:
        live.shadow.stop()
    if live.audit is not None:
        await run_in_threadpool(live.audit.stop)
    if live._post_store:
        live._post_store.close()


async def _watch_registry(app: FastAPI) -> None:
    live: LiveState = app.state.live
    assert live.registry is not None
    while True:
        await asyncio.sleep(live.settings.registry_poll_s)
        fingerprint = live.registry.fingerprint()
        if fingerprint == live.fingerprint:
            continue
        live.fingerprint = fingerprint
        try:
            await _apply(app, live, await run_in_threadpool(live.registry.load))
        except Exception as exc:  # the watcher must outlive a bad registry file
            live.load_error = f"registry: {type(exc).__name__}: {exc}"
            log.error("cannot apply the model registry", extra={"exc_type": type(exc).__name__, "detail": str(exc)})


async def _apply(app: FastAPI, live: LiveState, data: dict[str, Any]) -> None:
    assert live.registry is not None
    target = data.get("live")
    if target and target != live.live_key:
        entry = data.get("models", {}).get(target)
        if entry is None:
            raise ValueError(f"the live model {target} has no entry in registry.json")
        await switch(app, target, live.registry.root / entry["path"])
    if data.get("shadow") != live.shadow_key:
        await _set_shadow(app, data.get("shadow"))


def _load(app: FastAPI, path: Path) -> Engine:
    live: LiveState = app.state.live
    if live.loader is not None:
        return live.loader(path)
    return load_engine_from(app.state.settings, app.state.limits, path)


def _load_classifier(app: FastAPI, path: Path) -> Classifier:
    live: LiveState = app.state.live
    if live.loader is not None:
        return live.loader(path).classifier
    from triage.classify.onnx_model import OnnxClassifier

    return OnnxClassifier(path, threads=live.settings.threads)


async def switch(app: FastAPI, key: str, path: Path) -> bool:
    """Load ``path`` beside the serving engine, then swap; the old runner drains before it stops."""
    live: LiveState = app.state.live
    settings: ServeSettings = app.state.settings
    try:
        engine = await run_in_threadpool(_load, app, path)
        if settings.warm_up:
            await run_in_threadpool(engine.warm_up)
    except Exception as exc:
        live.load_error, live.failed_key = f"{key}: {type(exc).__name__}: {exc}", key
        log.error("the promoted model did not load: the current one keeps serving",
                  extra={"model_version": key, "exc_type": type(exc).__name__, "detail": str(exc)})
        return False
    runner = live.make_runner(engine)
    await runner.start()
    old_engine, old_runner = app.state.engine, app.state.runner
    app.state.engine, app.state.runner = engine, runner  # one step of the event loop: no request sees half
    if live.restart_watchdog is not None:
        live.restart_watchdog(app, runner)
    if old_engine is not None:
        live.metrics.model_info.labels(old_engine.model_info.version, old_engine.schema_name).set(0)
    live.metrics.model_info.labels(engine.model_info.version, engine.schema_name).set(1)
    previous, live.live_key, live.load_error, live.failed_key = live.live_key, key, None, None
    live.switches += 1
    if live.shadow is not None:
        live.shadow.reset(key)  # agreement is counted against the model live now
    log.info("switched model", extra={"pid": os.getpid(), "model_version": key, "previous": previous})
    if old_runner is not None:
        task = asyncio.create_task(_retire(old_runner, settings.request_timeout_s + 1.0, live.stop_wait_s),
                                   name="triage-retire")
        live.tasks.add(task)
        task.add_done_callback(live.tasks.discard)
    return True


async def _retire(runner: InferenceRunner, after_s: float, stop_wait_s: float) -> None:
    await asyncio.sleep(after_s)
    await runner.stop(stop_wait_s)


async def _set_shadow(app: FastAPI, key: str | None) -> None:
    live: LiveState = app.state.live
    if live.shadow is not None:
        live.shadow.stop()
        live.shadow, live.shadow_key = None, None
    if not key or live.registry is None:
        return
    try:
        classifier = await run_in_threadpool(_load_classifier, app, live.registry.path(key))
    except Exception as exc:
        log.error("the shadow model did not load", extra={"model_version": key, "exc_type": type(exc).__name__})
        live.shadow_key = key  # do not retry until the registry changes
        return
    counter = live.shadow_counter()
    live.shadow = ShadowScorer(classifier, live.live_key or "?", sample=live.settings.shadow_sample,
                               on_compare=lambda head, agree: counter.labels(head, str(agree).lower()).inc())
    live.shadow_key = key
    log.info("shadow model started", extra={"model_version": key})

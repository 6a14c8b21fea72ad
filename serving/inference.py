"""Running the CPU-bound, synchronous engine without blocking the event loop.

The engine runs in an ``InferencePool`` (``serving.pool``) whose size is the concurrency limit (the
inference threads per worker, 1 by default). When a request times out, ``asyncio.wait_for`` cancels its
future at once: a call still queued is removed and never computed; a call already running finishes in its
thread and keeps its slot, so abandoned work never pushes the process past its concurrency limit.

Work that keeps running is visible: :meth:`InferenceRunner.unready_reason` says when the worker cannot
serve (every slot busy for longer than the request timeout, or one call running for longer than
``stuck_after_s``), which ``/readyz`` reports and the worker's watchdog acts on (``serving.lifecycle``).
:meth:`InferenceRunner.stop` never waits on a stuck call for more than its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from serving.errors import ApiError
from serving.metrics import Metrics
from serving.microbatch import MicroBatcher
from serving.pool import InferencePool
from triage.engine import Engine
from triage.types import Post, TriageResult

T = TypeVar("T")
log = logging.getLogger("triage.serving")


class InferenceRunner:
    """Runs engine calls in ``concurrency`` threads with a timeout; optionally micro-batches single posts."""

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        *,
        concurrency: int = 1,
        timeout_s: float = 10.0,
        microbatch: bool = False,
        microbatch_window_ms: float = 2.0,
        microbatch_max: int = 16,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.pool = InferencePool(concurrency)
        self.batcher: MicroBatcher | None = None
        if microbatch:
            self.batcher = MicroBatcher(
                self._score, self.pool, window_ms=microbatch_window_ms, max_batch=microbatch_max, slots=concurrency
            )

    async def start(self) -> None:
        if self.batcher is not None:
            await self.batcher.start()

    async def stop(self, timeout_s: float = 1.0) -> int:
        """Stop taking work; wait up to ``timeout_s`` for running calls. Returns how many were abandoned."""
        deadline = time.monotonic() + timeout_s
        if self.batcher is not None:
            await self.batcher.stop(timeout_s)
        remaining = max(0.0, deadline - time.monotonic())
        abandoned = await asyncio.get_running_loop().run_in_executor(None, self.pool.close, remaining)
        if abandoned:
            log.warning(
                "stopping with inference calls still running: abandoned", extra={"abandoned_calls": abandoned}
            )
        return abandoned

    def longest_running_s(self) -> float:
        """How long the oldest call running now has run (0 when none runs)."""
        started = self.pool.running_since()
        return time.monotonic() - started[0] if started else 0.0

    def unready_reason(self, stuck_after_s: float) -> str | None:
        """Why this worker cannot serve now, or None: a call stuck past ``stuck_after_s``, or no free slot."""
        now = time.monotonic()
        started = self.pool.running_since()
        if started and now - started[0] > stuck_after_s:
            return f"an inference call has been running for {now - started[0]:.0f} s (limit {stuck_after_s:g} s)"
        if len(started) >= self.pool.size and now - started[-1] > self.timeout_s:
            return (
                f"every inference slot ({self.pool.size}) has been busy for more than the request timeout "
                f"({self.timeout_s:g} s)"
            )
        return None

    def _score(self, posts: Sequence[Post]) -> list[TriageResult]:
        # Runs in an inference thread: the timings cover the model call only, not the queueing. The
        # posts were validated when the request was admitted (serving.admission), once.
        start = time.perf_counter()
        results = self.engine.triage_batch(posts, checked=True)
        self.metrics.inference_seconds.observe(time.perf_counter() - start)
        self.metrics.batch_size.observe(len(posts))
        return results

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in an inference thread; 504 ``timeout`` after ``timeout_s``."""
        future = asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        return await self._wait(future)

    async def _wait(self, awaitable: asyncio.Future[T]) -> T:
        try:
            return await asyncio.wait_for(awaitable, self.timeout_s)
        except TimeoutError:
            raise ApiError(
                504, "timeout", f"inference took longer than {self.timeout_s:g} s; retry, or send fewer posts at once"
            ) from None

    async def triage(self, post: Post) -> TriageResult:
        if self.batcher is not None:
            return await self._wait(self.batcher.submit(post))
        return (await self.call(self._score, [post]))[0]

    async def triage_batch(self, posts: Sequence[Post]) -> list[TriageResult]:
        # A batch request is already a batch: one model call, never through the micro-batcher.
        return await self.call(self._score, list(posts))

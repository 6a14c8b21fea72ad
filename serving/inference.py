"""Running the CPU-bound, synchronous engine without blocking the event loop.

The engine runs in a thread pool of its own whose size is the concurrency limit (the inference threads
per worker, 1 by default). A dedicated pool rather than ``run_in_threadpool`` because of timeouts: when a
request times out, ``asyncio.wait_for`` cancels its future at once. A call still queued is then removed
from the pool's queue and never computed; a call already running finishes in its thread but keeps
occupying its slot, so abandoned work can never push the process past its concurrency limit. (anyio's
``to_thread.run_sync`` either waits for the thread before the timeout fires, or, when told to abandon
it, frees the slot while the thread still computes.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from serving.errors import ApiError
from serving.metrics import Metrics
from serving.microbatch import MicroBatcher
from triage.engine import Engine
from triage.types import Post, TriageResult

T = TypeVar("T")


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
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="triage-inference")
        self.batcher: MicroBatcher | None = None
        if microbatch:
            self.batcher = MicroBatcher(
                self._score, self.executor, window_ms=microbatch_window_ms, max_batch=microbatch_max, slots=concurrency
            )

    async def start(self) -> None:
        if self.batcher is not None:
            await self.batcher.start()

    async def stop(self) -> None:
        """Stop taking work and wait for the calls still running (uvicorn has drained requests by now)."""
        if self.batcher is not None:
            await self.batcher.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown, True)

    def _score(self, posts: Sequence[Post]) -> list[TriageResult]:
        # Runs in an inference thread: the timings cover the model call only, not the queueing.
        start = time.perf_counter()
        results = self.engine.triage_batch(posts, checked=True)
        self.metrics.inference_seconds.observe(time.perf_counter() - start)
        self.metrics.batch_size.observe(len(posts))
        return results

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in an inference thread; 504 ``timeout`` after ``timeout_s``."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
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

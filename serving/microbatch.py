"""An optional asyncio micro-batcher: concurrent single-post requests share one model call.

On by default: in our benchmark on a 2-core machine (``python -m bench.speed.serving_configs``, results in
docs/SERVING.md) it served 9-16 % more requests per second than scoring each request alone at full load,
about as many at moderate load, and added no latency when idle. It pays because one model call for
several short posts costs much less than one call per post.

Adaptive, so that an idle server adds no latency: a post that finds a free inference slot is scored at
once, alone. Only when every slot is busy do posts queue; when a slot frees, everything queued (up to
``max_batch``) goes in one call, after waiting up to ``window_ms`` for stragglers to fill it. Inference
runs in the given executor, so the event loop stays free.

Isolation: the posts of a micro-batch come from different clients, so one post must never fail another's
request. When a batch call raises anything (an unusable post, a model that breaks on one text, a bug),
its posts are scored again one by one, and each request gets its own result or its own error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from triage.types import Post, TriageResult

ScoreFn = Callable[[Sequence[Post]], list[TriageResult]]


@dataclass
class _Item:
    post: Post
    future: asyncio.Future[TriageResult]


class MicroBatcher:
    """Collects posts from concurrent requests into batches for ``score``; see the module docstring."""

    def __init__(
        self, score: ScoreFn, executor: Executor, *, window_ms: float = 2.0, max_batch: int = 16, slots: int = 1
    ) -> None:
        if max_batch < 1 or slots < 1 or window_ms < 0:
            raise ValueError("max_batch and slots must be at least 1, window_ms at least 0")
        self._score = score
        self._executor = executor
        self.window_s = window_ms / 1000.0
        self.max_batch = max_batch
        self._slots = asyncio.Semaphore(slots)
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        # Sizes of the latest batches sent, for tests and the benchmark (bounded: a server runs for months).
        self.batches: collections.deque[int] = collections.deque(maxlen=10_000)

    async def start(self) -> None:
        if self._collector is None:
            self._collector = asyncio.create_task(self._collect(), name="triage-microbatch")

    async def stop(self, timeout_s: float | None = None) -> None:
        """Finish the batches being scored (waiting at most ``timeout_s``); fail whatever is still queued."""
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
            self._collector = None
        if self._running:
            # A stuck model call must not hold up shutdown: its batch is abandoned after the timeout.
            await asyncio.wait(set(self._running), timeout=timeout_s)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(RuntimeError("the server is shutting down"))

    def submit(self, post: Post) -> asyncio.Future[TriageResult]:
        """Queue a post; the future resolves to its result. Cancel the future to give up on it."""
        if self._collector is None:
            raise RuntimeError("the micro-batcher is not started")
        future: asyncio.Future[TriageResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(post, future))
        return future

    def _take_ready(self, batch: list[_Item]) -> None:
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if not item.future.done():  # done here means the caller timed out and cancelled it
                batch.append(item)

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            if first.future.done():
                continue
            busy = self._slots.locked()
            await self._slots.acquire()
            batch = [first]
            self._take_ready(batch)
            if busy and self.window_s > 0:
                # Under load: give concurrent requests a moment to join the call that is about to start.
                deadline = loop.time() + self.window_s
                while len(batch) < self.max_batch and (remaining := deadline - loop.time()) > 0:
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                    if not item.future.done():
                        batch.append(item)
                    self._take_ready(batch)
            batch = [i for i in batch if not i.future.done()]
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.batches.append(len(batch))
            try:
                results = await loop.run_in_executor(self._executor, self._score, [i.post for i in batch])
            except Exception:
                if len(batch) == 1:
                    raise
                # Whatever failed the call must not fail the other clients' posts: score them one by one.
                for item in batch:
                    if not item.future.done():
                        await self._run_one(item)
                return
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
        except Exception as exc:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        finally:
            self._slots.release()

    async def _run_one(self, item: _Item) -> None:
        loop = asyncio.get_running_loop()
        try:
            result = (await loop.run_in_executor(self._executor, self._score, [item.post]))[0]
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        if not item.future.done():
            item.future.set_result(result)

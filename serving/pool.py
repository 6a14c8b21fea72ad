"""The inference thread pool: a fixed number of daemon threads that know how long each call has run.

Why not ``concurrent.futures.ThreadPoolExecutor``: its threads are joined when the interpreter exits, and
its ``shutdown(wait=True)`` waits for every running call. A model call that never returns (a wedged
native library) then pins the process past any graceful timeout. Here the threads are daemons and
:meth:`InferencePool.close` waits at most a given time, so a worker process can always exit; and
:meth:`InferencePool.running_since` tells readiness and the worker's watchdog how long the calls that
are running now have been running.

Cancellation behaves as in the standard pool: ``asyncio.wait_for`` cancelling a call that is still queued
removes it (it never runs); a call that is running finishes in its thread and keeps its slot meanwhile, so
abandoned work never pushes the process past its concurrency limit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class _Work:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class InferencePool(Executor):
    """``threads`` daemon threads running submitted calls in order; see the module docstring."""

    def __init__(self, threads: int, name: str = "triage-inference") -> None:
        if threads < 1:
            raise ValueError("an inference pool needs at least one thread")
        self.size = threads
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: dict[int, float] = {}  # thread ident -> time.monotonic() its call started
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._closed:
            raise RuntimeError("the inference pool is closed")
        future: Future[T] = Future()
        self._queue.put(_Work(future, fn, args, kwargs))
        return future

    def _serve(self) -> None:
        me = threading.get_ident()
        while True:
            work = self._queue.get()
            if work is None:
                return
            if not work.future.set_running_or_notify_cancel():
                continue  # cancelled while queued: its caller timed out
            with self._lock:
                self._running[me] = time.monotonic()
            try:
                result = work.fn(*work.args, **work.kwargs)
            except BaseException as exc:
                work.future.set_exception(exc)
            else:
                work.future.set_result(result)
            finally:
                with self._lock:
                    del self._running[me]
                del work  # drop references to the posts and results before waiting again

    def running_since(self) -> list[float]:
        """``time.monotonic()`` at which each call running now started, oldest first."""
        with self._lock:
            return sorted(self._running.values())

    def close(self, timeout_s: float | None) -> int:
        """Refuse new calls, cancel queued ones, wait up to ``timeout_s`` for running ones (None: no limit).

        Returns how many calls were still running when it gave up: their daemon threads are abandoned, so
        they cannot keep the process alive.
        """
        self._closed = True
        while True:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                break
            if work is not None:
                work.future.cancel()
        for _ in self._threads:
            self._queue.put(None)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in self._threads)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """``Executor.shutdown``: queued calls are always cancelled; ``wait`` waits without a limit."""
        self.close(None if wait else 0.0)

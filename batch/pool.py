"""The local engine's worker processes: one engine each, chunks in and scored chunks out, in input order."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import pyarrow as pa

from batch.readers import InputSource
from batch.score import ScoreOptions, check_engine, score_table
from batch.spec import EngineBuilder, EngineSpec, build_engine
from triage.engine import Engine

_PR_SET_PDEATHSIG = 1
_worker_engine: Engine | None = None
_worker_opts: ScoreOptions | None = None


def _die_with_parent() -> None:
    """On Linux, end this worker when the job's process dies (kill -9 included) instead of lingering."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: workers end when their queue breaks
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(builder: EngineBuilder | None, spec: EngineSpec, opts: ScoreOptions) -> None:
    global _worker_engine, _worker_opts
    _die_with_parent()
    _worker_engine = build_engine(spec, builder)
    check_engine(_worker_engine, opts)
    _worker_engine.warm_up()
    _worker_opts = opts


def _score_in_worker(table: pa.Table) -> pa.Table:
    assert _worker_engine is not None and _worker_opts is not None
    return score_table(_worker_engine, table, _worker_opts)


def local_chunks(
    engine: Engine,
    source: InputSource,
    start_row: int,
    opts: ScoreOptions,
    workers: int,
    build: tuple[EngineBuilder | None, EngineSpec],
) -> Iterator[pa.Table]:
    """Scored chunks in input order, scored here (``engine``) or by ``workers`` processes (``build``)."""
    if workers <= 1:
        for table in source.chunks(start_row):
            yield score_table(engine, table, opts)
        return
    # spawn, not fork: a forked copy of a live onnxruntime session (and its threads) is not safe.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(*build, opts),
    )
    try:
        pending: deque[Future[pa.Table]] = deque()
        for table in source.chunks(start_row):
            pending.append(pool.submit(_score_in_worker, table))
            # A bounded window keeps memory flat: at most two chunks per worker are in flight.
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

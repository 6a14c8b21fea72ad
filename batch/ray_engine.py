"""The Ray Data engine: the same scoring as the local engine, spread over an actor pool.

Pipeline::

    read_datasource(the job's chunk reader) -> repartition(chunk rows, strict) -> map_batches(actor pool)
        -> iter_batches back to the driver, in input order

- **Reading** uses the job's own reader (:class:`batch.readers.InputSource`) as a Ray datasource, so
  parsing, column mapping and bad-row handling are exactly the local engine's. Parquet is split into
  several read tasks along chunk boundaries; CSV and JSON Lines are one streaming read task.
- **repartition(target_num_rows_per_block=chunk, strict=True)** cuts the stream into blocks of exactly
  one chunk each. Ray would otherwise merge a small file into one block (one busy actor, the others
  idle), and chunk-sized blocks give every actor the very batches the local engine scores, so results
  are equal row for row even for a model whose numbers depend on batch composition.
- **map_batches** runs :class:`RayScorer`, one Engine (one ONNX session) per actor. Actors ask for a
  fraction of a CPU (``num_cpus=0.5`` by default): an actor pool that reserves every CPU leaves none for
  the read and repartition tasks and the job hangs without a word. Inside a batch, rows are scored in
  length-sorted sub-batches (by ``score_table``).
- **Writing** stays on the driver: ``preserve_order`` keeps the input order, and the job writes the
  same part files, state and final file as the local engine, so a Ray job resumes like a local one and
  its output is byte-identical. (Ray's ``write_*`` would give a folder of files named by task, not the
  single, atomically renamed, resumable file the command promises.)

Ray is an optional extra (``pip install -e ".[ray]"``); it is imported only when this engine runs. On one
machine it only adds overhead, which is why the local engine is the default.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from batch.columns import ROW
from batch.readers import InputSource
from batch.score import ScoreOptions, check_engine, score_table
from batch.spec import EngineBuilder, EngineSpec, build_engine
from triage.errors import ConfigError

# Parquet read tasks: enough to keep a cluster fed, few enough that each reads whole row groups.
_MAX_READ_TASKS = 64
_BLOCK_BYTES = 8 << 20


def _import_ray() -> Any:
    # Imported by name at run time: the core package never imports Ray statically, and a missing extra
    # becomes a clear message instead of an ImportError deep in a job.
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ConfigError('--engine ray needs Ray: pip install -e ".[ray]" (ray[data]==2.60.0)') from exc


class RayScorer:
    """The actor class of the pool: builds one Engine (one ONNX session) and scores whole blocks."""

    def __init__(self, builder: EngineBuilder | None, spec: EngineSpec, opts: ScoreOptions) -> None:
        self.engine = build_engine(spec, builder)
        check_engine(self.engine, opts)
        # Lazy parts (language detector, tokenizer) load now, not inside the first block.
        self.engine.warm_up()
        self.opts = opts

    def __call__(self, table: pa.Table) -> pa.Table:
        return score_table(self.engine, table, self.opts)


def _read_ranges(source: InputSource, start_row: int, parallelism: int) -> list[tuple[int, int | None]]:
    """Row ranges of the read tasks, each starting on a chunk boundary."""
    if source.format != "parquet" or source.num_rows is None:
        return [(start_row, None)]
    total = source.num_rows
    chunks = max(0, -(-(total - start_row) // source.chunk_size))
    tasks = max(1, min(parallelism, chunks, _MAX_READ_TASKS))
    per = -(-chunks // tasks) if chunks else 1
    ranges: list[tuple[int, int | None]] = []
    for t in range(tasks):
        lo = start_row + t * per * source.chunk_size
        hi = min(total, lo + per * source.chunk_size)
        if lo < hi:
            ranges.append((lo, hi))
    return ranges or [(start_row, None)]


def _datasource(ray: Any, source: InputSource, ranges: list[tuple[int, int | None]]) -> Any:
    """A Ray datasource over the job's reader, one read task per row range.

    The class is made here because Ray is imported lazily. The ranges are fixed by the caller (and
    ``override_num_blocks`` set to their number) so that Ray does not cut each chunk into slivers to
    reach its default parallelism.
    """
    block_metadata = importlib.import_module("ray.data.block").BlockMetadata
    schema = source.empty_table().schema

    class ChunkDatasource(ray.data.Datasource):
        def __init__(self) -> None:
            super().__init__()

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[Any]:
            tasks = []
            for lo, hi in ranges:
                rows = None if hi is None else hi - lo
                meta = block_metadata(
                    num_rows=rows, size_bytes=None, exec_stats=None, input_files=(str(source.path),)
                )

                def read(lo: int = lo, hi: int | None = hi) -> Iterator[pa.Table]:
                    yield from source.chunks(lo, hi)

                tasks.append(ray.data.ReadTask(read, meta, schema=schema))
            return tasks

    return ChunkDatasource()


def _aligned(tables: Iterator[pa.Table], chunk_size: int, start_row: int) -> Iterator[pa.Table]:
    """Re-cut a stream of scored tables at chunk boundaries, checking that no row is missing or moved."""
    pending: list[pa.Table] = []
    buffered = 0
    next_row = start_row
    for table in tables:
        if table.num_rows == 0:
            continue
        first = table.column(ROW)[0].as_py()
        if first != next_row + buffered:
            raise RuntimeError(f"the engine returned row {first} where row {next_row + buffered} was due")
        pending.append(table)
        buffered += table.num_rows
        while buffered >= chunk_size:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, chunk_size)
            rest = whole.slice(chunk_size)
            pending, buffered = [rest], rest.num_rows
            next_row += chunk_size
    if buffered:
        yield pa.concat_tables(pending)


def ray_scored_chunks(
    source: InputSource,
    start_row: int,
    build: tuple[EngineBuilder | None, EngineSpec],
    opts: ScoreOptions,
    *,
    address: str | None = None,
    concurrency: int | None = None,
    num_cpus: float = 0.5,
) -> Iterator[pa.Table]:
    """Scored chunks in input order from row ``start_row`` on, computed by a Ray Data actor pool.

    Ray hands back blocks that need not be whole chunks; they are re-cut at chunk boundaries. Uses the
    Ray already initialised in this process, else connects to ``address``, else starts a local Ray on the
    spot (and shuts down only what it started).
    """
    tables = _ray_tables(source, start_row, build, opts, address, concurrency, num_cpus)
    yield from _aligned(tables, source.chunk_size, start_row)


def _ray_tables(
    source: InputSource,
    start_row: int,
    build: tuple[EngineBuilder | None, EngineSpec],
    opts: ScoreOptions,
    address: str | None,
    concurrency: int | None,
    num_cpus: float,
) -> Iterator[pa.Table]:
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False  # the job has its own bar
        # A read task merges what it yields into blocks up to this size before handing them on; small
        # blocks let scoring start (and memory stay low) while a big CSV or JSON Lines file is read.
        ctx.target_max_block_size = min(ctx.target_max_block_size or _BLOCK_BYTES, _BLOCK_BYTES)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        # One actor per CPU by default; each asks for num_cpus (a fraction) so that tasks still fit.
        actors = concurrency or max(1, int(cpus))
        if actors * num_cpus >= cpus:
            raise ConfigError(
                f"{actors} actors x {num_cpus} CPU would reserve all {cpus:g} CPUs and starve the read tasks "
                "(the job would hang): lower --ray-concurrency or --ray-num-cpus"
            )
        ranges = _read_ranges(source, start_row, max(actors, 1) * 2)
        ds = ray.data.read_datasource(_datasource(ray, source, ranges), override_num_blocks=len(ranges))
        ds = ds.repartition(target_num_rows_per_block=source.chunk_size, strict=True)
        ds = ds.map_batches(
            RayScorer,
            batch_size=source.chunk_size,
            batch_format="pyarrow",
            zero_copy_batch=True,
            fn_constructor_kwargs={"builder": build[0], "spec": build[1], "opts": opts},
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=num_cpus,
        )
        yield from ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=2)
    finally:
        if started:
            ray.shutdown()

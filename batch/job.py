"""``reclassify``: score every post of a stored file again, streaming, resumable and idempotent.

How a job runs:

1. The engine is built once here (its schema fixes the output columns) and the input is opened
   (a mis-mapped column fails before any work): :func:`_open`.
2. The input is read in chunks of ``chunk_size`` rows (:mod:`batch.readers`); chunk k is always rows
   ``[k*C, (k+1)*C)``.
3. Each chunk is scored (:func:`batch.score.score_table`) by the local engine, by local worker processes
   (:mod:`batch.pool`) or by a Ray Data actor pool (:mod:`batch.ray_engine`); all give the same rows.
4. Back here, in input order, rows whose id came earlier are rejected (:mod:`batch.duplicates`), then
   each chunk is written to the work folder and recorded in its state (:mod:`batch.state`), so that a
   killed job restarted with the same command continues after the last recorded chunk.
5. At the end the parts are joined and renamed onto ``OUT`` and ``OUT.rejects.jsonl`` (atomic on one
   file system), and the work folder is removed.

Everything written depends only on the input, the options, the model and ``reclassified_at`` (taken
once when the job starts and kept in the state), so a resumed run writes the same bytes as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from batch.columns import ROW, Columns
from batch.duplicates import SeenIds, mark_duplicates
from batch.pool import local_chunks
from batch.progress import ProgressFactory, ProgressSink
from batch.readers import InputSource, detect_format
from batch.report import ReclassifyReport, Tally
from batch.results import result_fields
from batch.score import ScoreOptions, check_engine, score_table
from batch.spec import EngineBuilder, ReclassifyOptions, build_engine, check_builder
from batch.state import JobState, WorkDir, fingerprint, options_hash
from batch.writers import OutputLayout, PartWriter, make_writer, reject_lines
from triage.engine import Engine
from triage.errors import ConfigError, InputError


def _now_iso(at: datetime | None) -> str:
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


@dataclass
class _Job:
    """A job's fixed parts, settled before any row is read."""

    options: ReclassifyOptions
    builder: EngineBuilder | None
    engine: Engine
    source: InputSource
    columns: Columns
    output: Path | None
    out_format: str
    started: float

    @property
    def heads(self) -> tuple[str, ...]:
        return self.columns.heads

    @property
    def has_routing(self) -> bool:
        return self.engine.router is not None

    def score_options(self, reclassified_at: str) -> ScoreOptions:
        o = self.options
        return ScoreOptions(self.heads, self.has_routing, o.batch_size, reclassified_at, self.columns.text,
                            o.engine_spec.brand)  # fmt: skip

    def plan(self) -> dict[str, Any]:
        """What the output depends on besides the input; its hash tells a resumable job from another."""
        return {
            "input_format": self.source.format,
            "output_format": self.out_format,
            "columns": asdict(self.columns),
            "chunk_size": self.options.chunk_size,
            "batch_size": self.options.batch_size,
            "model_version": self.engine.classifier.version,
            "schema": self.engine.schema_name,
            "heads": self.heads,
            "routing": self.has_routing,
            "brand": self.options.engine_spec.brand,
            "limits": asdict(self.engine.limits),
        }

    def layout(self) -> OutputLayout:
        carry = [] if self.source.carry_schema is None else list(self.source.carry_schema.names)
        return OutputLayout(carry, result_fields(self.heads, self.has_routing))

    def report(self, tally: Tally, at: str, resumed_from: int, rejects: Path | None) -> ReclassifyReport:
        return ReclassifyReport.of(
            tally,
            rows_this_run=tally.rows - resumed_from,
            elapsed_s=time.perf_counter() - self.started,
            input=str(self.source.path),
            output=str(self.output) if self.output and not self.options.dry_run else None,
            rejects=str(rejects) if rejects else None,
            engine=self.options.engine,
            model_version=self.engine.classifier.version,
            reclassified_at=at,
            dry_run=self.options.dry_run,
            resumed_from_row=resumed_from,
        )


def _formats(input_path: Path, output_path: Path | None, options: ReclassifyOptions) -> tuple[str, str]:
    """The input and output formats, after the checks that need no file opened."""
    in_fmt = detect_format(input_path, options.input_format)
    out_fmt = in_fmt
    if output_path is not None:
        with contextlib.suppress(InputError):
            out_fmt = detect_format(output_path)
        if output_path.resolve() == input_path.resolve():
            raise InputError("the output must not be the input file", code="bad_output")
    elif not options.dry_run:
        raise InputError("an output path is needed (or use a dry run)", code="bad_output")
    if in_fmt == "jsonl" and out_fmt != "jsonl":
        raise InputError(
            "JSON Lines rows have no fixed columns: write JSON Lines output (or convert the input first)",
            code="bad_output",
        )
    if options.chunk_size < 1 or options.batch_size < 1:
        raise ConfigError("chunk and batch sizes must be at least 1")
    return in_fmt, out_fmt


def _open(
    input_path: Path, output_path: Path | None, options: ReclassifyOptions, builder: EngineBuilder | None
) -> _Job:
    started = time.perf_counter()
    in_fmt, out_fmt = _formats(input_path, output_path, options)
    if builder is not None and (options.engine == "ray" or options.workers > 1):
        check_builder(builder)
    engine = build_engine(options.engine_spec, builder)
    columns = replace(options.columns, heads=tuple(h.name for h in engine.classifier.schema.public_heads))
    source = InputSource(input_path, in_fmt, columns, options.chunk_size)
    return _Job(options, builder, engine, source, columns, output_path, out_fmt, started)


def reclassify(
    input_path: Path,
    output_path: Path | None,
    options: ReclassifyOptions | None = None,
    progress: ProgressFactory | None = None,
    *,
    engine_builder: EngineBuilder | None = None,
) -> ReclassifyReport:
    """Reclassify every row of ``input_path`` into ``output_path`` (see the module docstring).

    With ``options.dry_run`` nothing is written (``output_path`` may be None): the report says how many
    labels per head would change against those already in the input, with examples.
    ``engine_builder(spec) -> Engine`` replaces the model loader (default
    :func:`batch.spec.load_job_engine`); with worker processes or Ray it must be a top-level function.
    """
    options = options or ReclassifyOptions()
    job = _open(
        Path(input_path), Path(output_path) if output_path is not None else None, options, engine_builder
    )
    if options.dry_run:
        return _dry_run(job, progress)
    return _write(job, progress)


def _scored_chunks(job: _Job, start_row: int, opts: ScoreOptions) -> Iterator[pa.Table]:
    """Scored chunks from ``start_row`` on, in input order, by the engine the options name."""
    o = job.options
    build = (job.builder, o.engine_spec)
    if o.engine == "ray":
        from batch.ray_engine import ray_scored_chunks

        return ray_scored_chunks(job.source, start_row, build, opts, address=o.ray_address,
                                 concurrency=o.ray_concurrency, num_cpus=o.ray_num_cpus)  # fmt: skip
    if o.engine != "local":
        raise ConfigError(f"unknown engine {o.engine!r}; use 'local' or 'ray'")
    # More processes than chunks only costs start-up time (each loads its own model).
    chunks_left = -(-max(0, job.source.count_rows() - start_row) // job.source.chunk_size)
    workers = max(1, min(o.workers, chunks_left))
    return local_chunks(job.engine, job.source, start_row, opts, workers, build)


def _checked_chunks(
    job: _Job, first_chunk: int, opts: ScoreOptions, seen: SeenIds
) -> Iterator[tuple[int, pa.Table, Any]]:
    """(k, scored chunk k with duplicates rejected, its id hashes) from chunk ``first_chunk`` on."""
    size = job.options.chunk_size
    expected = first_chunk
    for scored in _scored_chunks(job, first_chunk * size, opts):
        k = scored.column(ROW)[0].as_py() // size
        if k != expected:
            raise RuntimeError(f"chunk {k} arrived where chunk {expected} was due")
        marked, hashes = mark_duplicates(scored, seen, job.columns.id)
        yield k, marked, hashes
        expected += 1


@contextlib.contextmanager
def _progress(
    progress: ProgressFactory | None, source: InputSource, done: int
) -> Iterator[ProgressSink | None]:
    bar = progress(source.count_rows(), done) if progress else None
    try:
        yield bar
    finally:
        if bar:
            bar.close()


def _dry_run(job: _Job, progress: ProgressFactory | None) -> ReclassifyReport:
    at = _now_iso(job.options.reclassified_at)
    opts = job.score_options(at)
    check_engine(job.engine, opts)
    tally = Tally()
    with _progress(progress, job.source, 0) as bar:
        for _, scored, _ in _checked_chunks(job, 0, opts, SeenIds()):
            tally.add(scored, job.heads, job.options.examples)
            if bar:
                bar.update(scored.num_rows)
    return job.report(tally, at, 0, None)


def _state(job: _Job, workdir: WorkDir) -> JobState:
    """The state to continue from: the unfinished job in ``workdir`` if it is this one, else a new one."""
    fp, plan_hash, at = fingerprint(job.source.path), options_hash(job.plan()), job.options.reclassified_at
    state = workdir.load()
    if state is not None and (state.fingerprint != fp or state.options_hash != plan_hash):
        if not job.options.restart:
            raise ConfigError(
                f"{workdir.path} holds an unfinished job for another input or other options; rerun with the "
                "same command to finish it, or pass --restart to discard it"
            )
        state = None
    if state is not None and at is not None and state.reclassified_at != _now_iso(at):
        raise ConfigError(
            f"the unfinished job in {workdir.path} was started with reclassified_at={state.reclassified_at}; "
            "rerun without --reclassified-at (or with that value), or pass --restart"
        )
    if state is None:
        state = JobState(fp, plan_hash, _now_iso(at))
        workdir.start(state)
    return state


def _write_chunks(job: _Job, workdir: WorkDir, state: JobState, writer: PartWriter, opts: ScoreOptions,
                  progress: ProgressFactory | None) -> None:  # fmt: skip
    """Score, write and record every chunk not done yet, updating ``state`` after each."""
    seen = SeenIds()
    for hashes in workdir.id_hashes(state.chunks_done):
        seen.add(hashes)
    with _progress(progress, job.source, state.rows_done) as bar:
        for k, scored, hashes in _checked_chunks(job, state.chunks_done, opts, seen):
            workdir.commit_chunk(k, writer, scored, reject_lines(scored), hashes)
            state.tally.add(scored, job.heads, job.options.examples)
            state.chunks_done = k + 1
            state.rows_done += scored.num_rows
            workdir.save(state)
            if bar:
                bar.update(scored.num_rows)


def _write(job: _Job, progress: ProgressFactory | None) -> ReclassifyReport:
    assert job.output is not None
    job.output.parent.mkdir(parents=True, exist_ok=True)
    workdir = WorkDir(job.output)
    rejects = job.output.with_name(job.output.name + ".rejects.jsonl")
    with workdir.locked():
        state = _state(job, workdir)
        resumed_from = state.rows_done
        opts = job.score_options(state.reclassified_at)
        check_engine(job.engine, opts)
        writer = make_writer(
            job.out_format, job.layout(), score_table(job.engine, job.source.empty_table(), opts)
        )
        _write_chunks(job, workdir, state, writer, opts, progress)
        workdir.finish(writer, state.chunks_done, job.output, rejects)
    workdir.remove()
    return job.report(state.tally, state.reclassified_at, resumed_from, rejects)

"""``reclassify``: score every post of a stored file again, streaming, resumable and idempotent.

How a job runs:

1. The engine is built once here (its schema fixes the output columns) and the input is opened
   (a mis-mapped column fails before any work).
2. The input is read in chunks of ``chunk_size`` rows; chunk k is always rows ``[k*C, (k+1)*C)``.
3. Each chunk is scored (:func:`batch.score.score_table`) by the local engine, by local worker
   processes, or by a Ray Data actor pool; all of them give the same rows.
4. Each finished chunk is written as ``OUT.partial/part-<k>`` (plus its rejects), then ``state.json``
   records it. A killed job restarted with the same command checks the input's fingerprint and the
   options' hash in ``state.json`` and continues after the last recorded chunk.
5. At the end the parts are joined into a temporary file that is renamed onto ``OUT`` (atomic on one
   file system), the rejects go to ``OUT.rejects.jsonl`` the same way, and the work folder is removed.

Everything written depends only on the input, the options, the model and ``reclassified_at`` (taken
once when the job starts and kept in the state), so a resumed run writes the same bytes as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import importlib
import inspect
import json
import multiprocessing
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa

from batch.io import (
    ERROR,
    ERROR_FIELD,
    ERROR_MSG,
    ID,
    OLD,
    OUT,
    ROW,
    STATUS,
    Columns,
    InputSource,
    OutputLayout,
    detect_format,
    make_writer,
)
from batch.rows import STATUS_MANUAL, STATUS_OK, STATUS_REJECTED, result_fields
from batch.score import ScoreOptions, check_engine, score_table
from triage.engine import Engine
from triage.errors import ConfigError, InputError

STATE_VERSION = 1
STATE_FILE = "state.json"
_FINGERPRINT_BYTES = 1 << 16
_EXAMPLE_CHARS = 200
_PR_SET_PDEATHSIG = 1

EngineKind = Literal["local", "ray"]


# ---------------------------------------------------------------- options and engine


@dataclass(frozen=True)
class EngineSpec:
    """How to build the engine; plain data, so that worker processes and Ray actors can build their own.

    ``factory`` ("package.module:function", returning an ``Engine``) replaces the model loader; tests
    use it to run jobs with the fake classifier.
    """

    model_dir: str | None = None
    brand: str | None = None
    threads: int | None = None
    factory: str | None = None

    def build(self) -> Engine:
        engine = self._build()
        # A job writes labels, entities and routing, never suggested replies: without the replier a post
        # costs about a twentieth (ranking replies is most of the per-post work after the model).
        engine.replier = None
        return engine

    def _build(self) -> Engine:
        if self.factory:
            module, _, name = self.factory.partition(":")
            if not module or not name:
                raise ConfigError(f"engine factory {self.factory!r} must look like 'package.module:function'")
            try:
                fn = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"cannot import the engine factory {self.factory!r}: {exc}") from exc
            engine = fn()
            if not isinstance(engine, Engine):
                raise ConfigError(f"engine factory {self.factory!r} returned {type(engine).__name__}, not an Engine")
            return engine
        from triage.loading import load_engine

        kwargs: dict[str, Any] = {"model_dir": Path(self.model_dir) if self.model_dir else None, "threads": self.threads}
        if self.brand is not None:
            # Brand routing is being added to load_engine; until it exists a brand cannot be honoured.
            if "brand" not in inspect.signature(load_engine).parameters:
                raise ConfigError("this triage version cannot route by brand yet (load_engine has no brand argument)")
            kwargs["brand"] = self.brand
        return load_engine(**kwargs)


@dataclass(frozen=True)
class ReclassifyOptions:
    """Everything that shapes a job besides its input and output paths."""

    input_format: str | None = None
    columns: Columns = field(default_factory=Columns)
    chunk_size: int = 1000
    batch_size: int = 64
    engine: EngineKind = "local"
    # Local engine: worker processes (1 = score in this process).
    workers: int = 1
    engine_spec: EngineSpec = field(default_factory=EngineSpec)
    # Fixed for reproducible output; else the job's start time (kept in the state when resuming).
    reclassified_at: datetime | None = None
    dry_run: bool = False
    # Discard a work folder left by a different job instead of refusing to start.
    restart: bool = False
    examples: int = 5
    ray_address: str | None = None
    ray_concurrency: int | None = None
    ray_num_cpus: float = 0.5


class ProgressSink(Protocol):
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


# (estimated total rows, rows already done) -> a progress sink
ProgressFactory = Callable[[int, int], ProgressSink]


# ---------------------------------------------------------------- counters


@dataclass
class HeadTally:
    """Label changes of one head against the labels already in the input."""

    compared: int = 0
    changed: int = 0
    transitions: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Tally:
    """What a job did, chunk after chunk; JSON-serialisable so that it survives in the state file."""

    rows: int = 0
    scored: int = 0
    manual: int = 0
    rejected: int = 0
    rejects_by_code: dict[str, int] = field(default_factory=dict)
    heads: dict[str, HeadTally] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        heads = {h: HeadTally(**v) for h, v in data.get("heads", {}).items()}
        return cls(**{**data, "heads": heads})

    def add(self, scored: pa.Table, heads: tuple[str, ...], max_examples: int) -> None:
        status = scored.column(STATUS).to_pylist()
        self.rows += len(status)
        self.scored += status.count(STATUS_OK)
        self.manual += status.count(STATUS_MANUAL)
        self.rejected += status.count(STATUS_REJECTED)
        for code, s in zip(scored.column(ERROR).to_pylist(), status, strict=True):
            if s == STATUS_REJECTED:
                self.rejects_by_code[code] = self.rejects_by_code.get(code, 0) + 1
        rows = scored.column(ROW).to_pylist()
        ids = scored.column(ID).to_pylist()
        redacted = scored.column(OUT + "redacted_text").to_pylist()
        for head in heads:
            tally = self.heads.setdefault(head, HeadTally())
            old = scored.column(OLD + head).to_pylist()
            new = scored.column(OUT + head).to_pylist()
            probs = scored.column(OUT + f"p_{head}").to_pylist()
            for i, s in enumerate(status):
                if s != STATUS_OK or old[i] is None:
                    continue
                tally.compared += 1
                if old[i] == new[i]:
                    continue
                tally.changed += 1
                key = f"{old[i]} -> {new[i]}"
                tally.transitions[key] = tally.transitions.get(key, 0) + 1
                if len(tally.examples) < max_examples:
                    tally.examples.append(
                        {
                            "row": rows[i],
                            "id": ids[i],
                            "old": old[i],
                            "new": new[i],
                            "confidence": json.loads(probs[i]).get(new[i]),
                            # Redacted: examples end up in logs and terminals.
                            "redacted_text": (redacted[i] or "")[:_EXAMPLE_CHARS],
                        }
                    )


@dataclass
class ReclassifyReport:
    """The summary of a job (or of a dry run, which writes nothing)."""

    input: str
    output: str | None
    rejects: str | None
    engine: str
    model_version: str
    reclassified_at: str
    dry_run: bool
    rows: int
    scored: int
    manual: int
    rejected: int
    rejects_by_code: dict[str, int]
    heads: dict[str, HeadTally]
    resumed_from_row: int
    rows_this_run: int
    elapsed_s: float
    rows_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> dict[str, int]:
        return {h: t.changed for h, t in self.heads.items()}


# ---------------------------------------------------------------- state


def fingerprint(path: Path) -> dict[str, Any]:
    """Identifies the input cheaply: path, size, mtime, and hashes of its first and last 64 KiB."""
    st = path.stat()
    with open(path, "rb") as f:
        head = f.read(_FINGERPRINT_BYTES)
        f.seek(max(0, st.st_size - _FINGERPRINT_BYTES))
        tail = f.read(_FINGERPRINT_BYTES)
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "head_sha256": hashlib.sha256(head).hexdigest(),
        "tail_sha256": hashlib.sha256(tail).hexdigest(),
    }


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _State:
    fingerprint: dict[str, Any]
    options_hash: str
    reclassified_at: str
    chunks_done: int = 0
    rows_done: int = 0
    tally: Tally = field(default_factory=Tally)

    def save(self, workdir: Path) -> None:
        data = {"version": STATE_VERSION, **asdict(self)}
        _atomic_write_text(workdir / STATE_FILE, json.dumps(data, ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, workdir: Path) -> _State | None:
        path = workdir / STATE_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.pop("version", None) != STATE_VERSION:
                return None
            data["tally"] = Tally.from_json(data["tally"])
            return cls(**data)
        except (ValueError, KeyError, TypeError):
            return None


# ---------------------------------------------------------------- scoring engines

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


def _init_worker(spec: EngineSpec, opts: ScoreOptions) -> None:
    global _worker_engine, _worker_opts
    _die_with_parent()
    _worker_engine = spec.build()
    check_engine(_worker_engine, opts)
    _worker_engine.warm_up()
    _worker_opts = opts


def _score_in_worker(table: pa.Table) -> pa.Table:
    assert _worker_engine is not None and _worker_opts is not None
    return score_table(_worker_engine, table, _worker_opts)


def _local_chunks(
    engine: Engine, source: InputSource, start_row: int, opts: ScoreOptions, workers: int, spec: EngineSpec
) -> Iterator[pa.Table]:
    """Scored chunks in input order, scored here or by ``workers`` processes (one engine each)."""
    if workers <= 1:
        for table in source.chunks(start_row):
            yield score_table(engine, table, opts)
        return
    # spawn, not fork: a forked copy of a live onnxruntime session (and its threads) is not safe.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(spec, opts),
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


def _scored_chunks(
    engine: Engine, source: InputSource, start_row: int, opts: ScoreOptions, options: ReclassifyOptions
) -> Iterator[pa.Table]:
    if options.engine == "ray":
        from batch.ray_engine import ray_scored_tables

        tables = ray_scored_tables(
            source,
            start_row,
            options.engine_spec,
            opts,
            address=options.ray_address,
            concurrency=options.ray_concurrency,
            num_cpus=options.ray_num_cpus,
        )
        return _aligned(tables, source.chunk_size, start_row)
    if options.engine != "local":
        raise ConfigError(f"unknown engine {options.engine!r}; use 'local' or 'ray'")
    # More processes than chunks only costs start-up time (each loads its own model).
    chunks_left = -(-max(0, source.count_rows() - start_row) // source.chunk_size)
    workers = max(1, min(options.workers, chunks_left))
    return _local_chunks(engine, source, start_row, opts, workers, options.engine_spec)


# ---------------------------------------------------------------- the job


def _now_iso(at: datetime | None) -> str:
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def _options_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _reject_lines(scored: pa.Table) -> list[str]:
    status = scored.column(STATUS).to_pylist()
    rows = scored.column(ROW).to_pylist()
    ids = scored.column(ID).to_pylist()
    codes = scored.column(ERROR).to_pylist()
    fields_ = scored.column(ERROR_FIELD).to_pylist()
    messages = scored.column(ERROR_MSG).to_pylist()
    return [
        json.dumps(
            {"row": rows[i], "id": ids[i], "code": codes[i], "field": fields_[i], "reason": messages[i]},
            ensure_ascii=False,
        )
        + "\n"
        for i, s in enumerate(status)
        if s == STATUS_REJECTED
    ]


@contextlib.contextmanager
def _locked(workdir: Path) -> Iterator[None]:
    """One job per output at a time; the lock dies with its process, so a killed job never blocks a rerun."""
    with open(workdir / "lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another job is writing {workdir}; wait for it or stop it") from None
        yield


def reclassify(
    input_path: Path,
    output_path: Path | None,
    options: ReclassifyOptions | None = None,
    progress: ProgressFactory | None = None,
) -> ReclassifyReport:
    """Reclassify every row of ``input_path`` into ``output_path`` (see the module docstring).

    With ``options.dry_run`` nothing is written (``output_path`` may be None): the report says how many
    labels per head would change against those already in the input, with examples.
    """
    options = options or ReclassifyOptions()
    started = time.perf_counter()
    input_path = Path(input_path)
    in_fmt = detect_format(input_path, options.input_format)
    out_fmt = in_fmt
    if output_path is not None:
        output_path = Path(output_path)
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

    engine = options.engine_spec.build()
    heads = tuple(h.name for h in engine.classifier.schema.public_heads)
    has_routing = engine.router is not None
    columns = replace(options.columns, heads=heads)
    source = InputSource(input_path, in_fmt, columns, options.chunk_size)
    carry_names = [] if source.carry_schema is None else list(source.carry_schema.names)
    layout = OutputLayout(carry_names, result_fields(heads, has_routing))
    plan = {
        "input_format": in_fmt,
        "output_format": out_fmt,
        "columns": asdict(columns),
        "chunk_size": options.chunk_size,
        "batch_size": options.batch_size,
        "model_version": engine.classifier.version,
        "schema": engine.schema_name,
        "heads": heads,
        "routing": has_routing,
        "brand": options.engine_spec.brand,
        "limits": asdict(engine.limits),
    }

    def opts_for(at: str) -> ScoreOptions:
        return ScoreOptions(heads, has_routing, options.batch_size, at, columns.text, options.engine_spec.brand)

    if options.dry_run:
        return _dry_run(engine, source, opts_for(_now_iso(options.reclassified_at)), options, progress, started)

    assert output_path is not None
    output_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = output_path.with_name(output_path.name + ".partial")
    workdir.mkdir(exist_ok=True)
    with _locked(workdir):
        fp = fingerprint(input_path)
        options_hash = _options_hash(plan)
        state = _State.load(workdir)
        if state is not None and (state.fingerprint != fp or state.options_hash != options_hash):
            if not options.restart:
                raise ConfigError(
                    f"{workdir} holds an unfinished job for another input or other options; rerun with the "
                    "same command to finish it, or pass --restart to discard it"
                )
            state = None
        if state is not None and options.reclassified_at is not None and state.reclassified_at != _now_iso(
            options.reclassified_at
        ):
            raise ConfigError(
                f"the unfinished job in {workdir} was started with reclassified_at={state.reclassified_at}; "
                "rerun without --reclassified-at (or with that value), or pass --restart"
            )
        if state is None:
            for stale in workdir.iterdir():
                if stale.name != "lock":
                    stale.unlink()
            state = _State(fp, options_hash, _now_iso(options.reclassified_at))
            state.save(workdir)
        opts = opts_for(state.reclassified_at)
        check_engine(engine, opts)
        empty = score_table(engine, source.empty_table(), opts)
        writer = make_writer(out_fmt, layout, empty)
        resumed_from = state.rows_done
        bar = progress(source.count_rows(), resumed_from) if progress else None
        try:
            expected = state.chunks_done
            for scored in _scored_chunks(engine, source, expected * options.chunk_size, opts, options):
                k = scored.column(ROW)[0].as_py() // options.chunk_size
                if k != expected:
                    raise RuntimeError(f"chunk {k} arrived where chunk {expected} was due")
                part = workdir / f"part-{k:06d}{writer.suffix}"
                tmp = workdir / f"part-{k:06d}.tmp"
                writer.write_part(scored, tmp)
                _fsync(tmp)
                os.replace(tmp, part)
                _atomic_write_text(workdir / f"rejects-{k:06d}.jsonl", "".join(_reject_lines(scored)))
                state.tally.add(scored, heads, options.examples)
                state.chunks_done = k + 1
                state.rows_done += scored.num_rows
                state.save(workdir)
                expected += 1
                if bar:
                    bar.update(scored.num_rows)
        finally:
            if bar:
                bar.close()
        rejects_path = output_path.with_name(output_path.name + ".rejects.jsonl")
        _finish(workdir, writer, state.chunks_done, output_path, rejects_path)
    shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    done_now = state.rows_done - resumed_from
    return _report(
        input_path, output_path, rejects_path, options, engine, state.reclassified_at, state.tally, resumed_from,
        done_now, elapsed,
    )


def _finish(workdir: Path, writer: Any, chunks: int, output: Path, rejects: Path) -> None:
    """Join the parts into temporary files and rename them into place: OUT appears whole or not at all."""
    parts = [workdir / f"part-{k:06d}{writer.suffix}" for k in range(chunks)]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise RuntimeError(f"{workdir} lacks {missing[:3]}: rerun with --restart")
    tmp_rejects = workdir / "rejects.final.tmp"
    with open(tmp_rejects, "wb") as out:
        for k in range(chunks):
            with open(workdir / f"rejects-{k:06d}.jsonl", "rb") as src:
                shutil.copyfileobj(src, out)
    _fsync(tmp_rejects)
    tmp_out = workdir / f"output.final.tmp{writer.suffix}"
    writer.concat(parts, tmp_out)
    _fsync(tmp_out)
    # Rejects first: the output's presence means the job is complete, rejects included.
    os.replace(tmp_rejects, rejects)
    os.replace(tmp_out, output)


def _report(
    input_path: Path,
    output_path: Path | None,
    rejects_path: Path | None,
    options: ReclassifyOptions,
    engine: Engine,
    at: str,
    tally: Tally,
    resumed_from: int,
    done_now: int,
    elapsed: float,
) -> ReclassifyReport:
    return ReclassifyReport(
        input=str(input_path),
        output=str(output_path) if output_path else None,
        rejects=str(rejects_path) if rejects_path else None,
        engine=options.engine,
        model_version=engine.classifier.version,
        reclassified_at=at,
        dry_run=options.dry_run,
        rows=tally.rows,
        scored=tally.scored,
        manual=tally.manual,
        rejected=tally.rejected,
        rejects_by_code=dict(sorted(tally.rejects_by_code.items())),
        heads=tally.heads,
        resumed_from_row=resumed_from,
        rows_this_run=done_now,
        elapsed_s=round(elapsed, 3),
        rows_per_s=round(done_now / elapsed, 2) if elapsed > 0 else 0.0,
    )


def _dry_run(
    engine: Engine,
    source: InputSource,
    opts: ScoreOptions,
    options: ReclassifyOptions,
    progress: ProgressFactory | None,
    started: float,
) -> ReclassifyReport:
    check_engine(engine, opts)
    tally = Tally()
    bar = progress(source.count_rows(), 0) if progress else None
    try:
        for scored in _scored_chunks(engine, source, 0, opts, options):
            tally.add(scored, opts.heads, options.examples)
            if bar:
                bar.update(scored.num_rows)
    finally:
        if bar:
            bar.close()
    elapsed = time.perf_counter() - started
    return _report(source.path, None, None, options, engine, opts.reclassified_at, tally, 0, tally.rows, elapsed)


def tqdm_progress(total: int, initial: int) -> ProgressSink:
    """A tqdm bar on stderr with rows/s and ETA (the CLI's progress display)."""
    from tqdm import tqdm

    bar: Any = tqdm(total=total or None, initial=initial, unit="rows", unit_scale=True, dynamic_ncols=True, smoothing=0.1)
    return bar

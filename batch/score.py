"""Scoring one work table: the same function runs in the local engine, its worker processes and Ray actors.

Rows are validated first with the engine's own check (``Engine.check``: the same limits and the same
rules as the REST API, so a post the API refuses is refused here with the same code), so only good rows
reach ``Engine.triage_batch``; the good rows of a chunk are sorted by length and cut into batches (less
padding for the model), and the results are put back in input order. A row that fails on its own is
rejected with the reason; a failure of every row at once (a broken model) stops the job instead of
rejecting everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from batch.columns import (
    CHANNEL,
    CREATED_AT,
    ERROR,
    ERROR_FIELD,
    ERROR_MSG,
    ID,
    MANUAL,
    OUT,
    SKIP_CODES,
    STATUS,
    STATUS_MANUAL,
    STATUS_OK,
    STATUS_REJECTED,
    STATUS_SKIPPED,
    TEXT,
)
from batch.results import flatten, result_fields
from triage.engine import Engine
from triage.errors import ConfigError, InputError, TriageError
from triage.types import Post, TriageResult

# Messages of unexpected exceptions are cut: they end up in the rejects file.
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class ScoreOptions:
    """What every scorer of one job must agree on (shipped to worker processes and Ray actors)."""

    heads: tuple[str, ...]
    has_routing: bool
    batch_size: int
    reclassified_at: str  # ISO 8601, fixed for the whole job
    text_column: str = "text"
    brand: str | None = None


def check_engine(engine: Engine, opts: ScoreOptions) -> None:
    """Refuse an engine that would write other columns than the job planned (e.g. another model)."""
    heads = tuple(h.name for h in engine.classifier.schema.public_heads)
    if heads != opts.heads or (engine.router is not None) != opts.has_routing:
        raise ConfigError(
            f"this worker's engine has heads {heads} and routing={engine.router is not None}, but the job "
            f"was planned for heads {opts.heads} and routing={opts.has_routing}: all workers need the same model"
        )


@dataclass
class _Rows:
    """The mutable per-row state of one table being scored."""

    status: list[str]
    errors: list[str | None]
    fields: list[str | None]
    messages: list[str | None]
    values: list[dict[str, Any] | None]

    def reject(self, i: int, code: str, field: str | None, message: str) -> None:
        self.status[i] = STATUS_REJECTED
        self.errors[i], self.fields[i], self.messages[i] = code, field, message[:_MAX_MESSAGE]


def _posts(engine: Engine, table: pa.Table, opts: ScoreOptions, rows: _Rows) -> list[tuple[int, Post]]:
    """The rows to score as posts, each checked by the engine; the others get their status here."""
    ids = table.column(ID).to_pylist()
    texts = table.column(TEXT).to_pylist()
    channels = table.column(CHANNEL).to_pylist()
    created: list[datetime | None] = table.column(CREATED_AT).to_pylist()
    manual = table.column(MANUAL).to_pylist()
    at = datetime.fromisoformat(opts.reclassified_at)
    todo: list[tuple[int, Post]] = []
    for i in range(table.num_rows):
        if rows.errors[i] is not None:
            rows.status[i] = STATUS_SKIPPED if rows.errors[i] in SKIP_CODES else STATUS_REJECTED
            continue
        if manual[i]:
            rows.status[i] = STATUS_MANUAL
            continue
        try:
            post = Post(
                text=texts[i],
                id=ids[i],
                channel=channels[i] or "facebook",
                brand=opts.brand,
                # Routing runs at "now": the post's own time when known, else the job's fixed start time,
                # never the wall clock (a resumed job must write the same bytes).
                created_at=created[i] or at,
            )
            engine.check(post)
        except InputError as exc:
            rows.reject(i, exc.code, opts.text_column if exc.field == "text" else exc.field, str(exc))
            continue
        except ValidationError as exc:
            rows.reject(
                i, "invalid_post", None, f"the row does not make a valid post: {exc.errors()[0]['msg']}"
            )
            continue
        todo.append((i, post))
    return todo


def _triage_isolating(engine: Engine, posts: Sequence[Post]) -> list[TriageResult | Exception]:
    """Triage a batch; when it fails, retry post by post so that one bad post costs only itself."""
    try:
        return list(engine.triage_batch(posts, checked=True))
    except Exception as first:
        if len(posts) == 1:
            return [first]
        out: list[TriageResult | Exception] = []
        for post in posts:
            try:
                out.append(engine.triage_batch([post], checked=True)[0])
            except Exception as exc:
                out.append(exc)
        if all(isinstance(x, Exception) for x in out):
            raise first  # nothing works: a broken model or engine, not bad rows
        return out


def _describe(exc: Exception) -> tuple[str, str | None, str]:
    if isinstance(exc, TriageError):
        return exc.code, exc.field, str(exc)
    return "engine_error", None, f"{type(exc).__name__}: {exc}"


def _score(engine: Engine, todo: list[tuple[int, Post]], opts: ScoreOptions, rows: _Rows) -> None:
    # Length-sorted batches: similar lengths share a batch, so the model pads little. The index breaks
    # ties so that the order (and so each batch) never depends on anything but the chunk.
    todo.sort(key=lambda item: (len(item[1].text), item[0]))
    for start in range(0, len(todo), opts.batch_size):
        batch = todo[start : start + opts.batch_size]
        outcomes = _triage_isolating(engine, [post for _, post in batch])
        for (i, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                rows.reject(i, *_describe(outcome))
            else:
                rows.values[i] = flatten(outcome, opts.heads, opts.has_routing, opts.reclassified_at)


def score_table(engine: Engine, table: pa.Table, opts: ScoreOptions) -> pa.Table:
    """Add the result columns (``__triage_out_*``) and the row status to one work table."""
    n = table.num_rows
    rows = _Rows(
        status=[STATUS_OK] * n,
        errors=table.column(ERROR).to_pylist(),
        fields=table.column(ERROR_FIELD).to_pylist(),
        messages=table.column(ERROR_MSG).to_pylist(),
        values=[None] * n,
    )
    _score(engine, _posts(engine, table, opts, rows), opts, rows)
    out = table
    for f in result_fields(opts.heads, opts.has_routing):
        column: list[Any]
        if f.name == "reclassify_status":
            column = rows.status
        elif f.name == "reclassify_error":
            column = [
                e if s == STATUS_REJECTED else None for e, s in zip(rows.errors, rows.status, strict=True)
            ]
        else:
            column = [v[f.name] if v is not None else None for v in rows.values]
        out = out.append_column(OUT + f.name, pa.array(column, f.type))
    for name, values in ((ERROR, rows.errors), (ERROR_FIELD, rows.fields), (ERROR_MSG, rows.messages)):
        out = out.set_column(out.schema.get_field_index(name), name, pa.array(values, pa.string()))
    return out.append_column(STATUS, pa.array(rows.status, pa.string()))

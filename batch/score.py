"""Scoring one work table: the same function runs in the local engine, its worker processes and Ray actors.

Rows are validated first (``check_text`` with the engine's limits), so only good rows reach
``Engine.triage_batch``; the good rows of a chunk are sorted by length and cut into batches (less padding
for the model), and the results are put back in input order. A row that fails on its own is rejected with
the reason; a failure of every row at once (a broken model) stops the job instead of rejecting everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from batch.io import (
    CHANNEL,
    CREATED_AT,
    ERROR,
    ERROR_FIELD,
    ERROR_MSG,
    ID,
    MANUAL,
    OUT,
    STATUS,
    TEXT,
)
from batch.rows import STATUS_MANUAL, STATUS_OK, STATUS_REJECTED, flatten, result_fields
from triage.engine import Engine
from triage.errors import ConfigError, InputError, TriageError
from triage.text.validate import check_text
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


def _triage_isolating(engine: Engine, posts: Sequence[Post]) -> list[TriageResult | TriageError | Exception]:
    """Triage a batch; when it fails, retry post by post so that one bad post costs only itself."""
    try:
        return list(engine.triage_batch(posts))
    except Exception as first:
        if len(posts) == 1:
            return [first]
        out: list[TriageResult | TriageError | Exception] = []
        for post in posts:
            try:
                out.append(engine.triage_batch([post])[0])
            except Exception as exc:
                out.append(exc)
        if all(isinstance(x, Exception) for x in out):
            raise first  # nothing works: a broken model or engine, not bad rows
        return out


def _describe(exc: Exception) -> tuple[str, str | None, str]:
    if isinstance(exc, TriageError):
        return exc.code, exc.field, str(exc)[:_MAX_MESSAGE]
    return "engine_error", None, f"{type(exc).__name__}: {exc}"[:_MAX_MESSAGE]


def score_table(engine: Engine, table: pa.Table, opts: ScoreOptions) -> pa.Table:
    """Add the result columns (``__triage_out_*``) and the row status to one work table."""
    n = table.num_rows
    ids = table.column(ID).to_pylist()
    texts = table.column(TEXT).to_pylist()
    channels = table.column(CHANNEL).to_pylist()
    created: list[datetime | None] = table.column(CREATED_AT).to_pylist()
    manual = table.column(MANUAL).to_pylist()
    errors: list[str | None] = table.column(ERROR).to_pylist()
    fields: list[str | None] = table.column(ERROR_FIELD).to_pylist()
    messages: list[str | None] = table.column(ERROR_MSG).to_pylist()
    status: list[str] = [STATUS_OK] * n
    values: list[dict[str, Any] | None] = [None] * n
    at = datetime.fromisoformat(opts.reclassified_at)

    todo: list[tuple[int, Post]] = []
    for i in range(n):
        if errors[i] is not None:
            status[i] = STATUS_REJECTED
            continue
        if manual[i]:
            status[i] = STATUS_MANUAL
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
            check_text(post.text, engine.limits)
        except InputError as exc:
            status[i] = STATUS_REJECTED
            errors[i] = exc.code
            fields[i] = opts.text_column if exc.field == "text" else exc.field
            messages[i] = str(exc)[:_MAX_MESSAGE]
            continue
        except ValidationError as exc:
            status[i] = STATUS_REJECTED
            errors[i], fields[i] = "invalid_post", None
            messages[i] = f"the row does not make a valid post: {exc.errors()[0]['msg']}"[:_MAX_MESSAGE]
            continue
        todo.append((i, post))

    # Length-sorted batches: similar lengths share a batch, so the model pads little. The index breaks
    # ties so that the order (and so each batch) never depends on anything but the chunk.
    todo.sort(key=lambda item: (len(item[1].text), item[0]))
    for start in range(0, len(todo), opts.batch_size):
        batch = todo[start : start + opts.batch_size]
        outcomes = _triage_isolating(engine, [post for _, post in batch])
        for (i, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                status[i] = STATUS_REJECTED
                errors[i], fields[i], messages[i] = _describe(outcome)
            else:
                values[i] = flatten(outcome, opts.heads, opts.has_routing, opts.reclassified_at)

    out = table
    for f in result_fields(opts.heads, opts.has_routing):
        column: list[Any]
        if f.name == "reclassify_status":
            column = status
        elif f.name == "reclassify_error":
            column = [e if s == STATUS_REJECTED else None for e, s in zip(errors, status, strict=True)]
        else:
            column = [v[f.name] if v is not None else None for v in values]
        out = out.append_column(OUT + f.name, pa.array(column, f.type))
    out = out.set_column(out.schema.get_field_index(ERROR), ERROR, pa.array(errors, pa.string()))
    out = out.set_column(out.schema.get_field_index(ERROR_FIELD), ERROR_FIELD, pa.array(fields, pa.string()))
    out = out.set_column(out.schema.get_field_index(ERROR_MSG), ERROR_MSG, pa.array(messages, pa.string()))
    return out.append_column(STATUS, pa.array(status, pa.string()))

"""Output: scored tables (work tables plus ``__triage_out_*`` result columns) as JSON Lines, CSV or Parquet.

Output rows are the input's columns in their order, result columns that share a name with an input
column replacing it in place (on scored rows; other rows keep the input's value), the other result
columns appended. Skipped rows (blank lines) are not written. Each finished chunk becomes one part
file; ``concat`` joins the parts into the final file. The rejects of a chunk are JSON lines too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from batch.columns import (
    ERROR,
    ERROR_FIELD,
    ERROR_MSG,
    ID,
    LINE,
    OUT,
    ROW,
    STATUS,
    STATUS_OK,
    STATUS_REJECTED,
    STATUS_SKIPPED,
)
from batch.jsonline import parse_json_line, utf8_json
from batch.results import ResultField
from triage.errors import InputError


def _written(scored: pa.Table) -> pa.Table:
    """The rows that reach the output: all but skipped ones."""
    skipped = pc.fill_null(pc.equal(scored.column(STATUS), STATUS_SKIPPED), False)
    return scored.filter(pc.invert(skipped)) if pc.any(skipped).as_py() else scored


@dataclass
class OutputLayout:
    """Where each output column comes from, fixed once per job so that every part has one schema."""

    carry_names: list[str]
    results: list[ResultField]
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        result_names = {f.name for f in self.results}
        self.names = list(self.carry_names) + [f.name for f in self.results if f.name not in self.carry_names]
        self._replaced = result_names & set(self.carry_names)

    def table(self, scored: pa.Table) -> pa.Table:
        """The output table of one scored chunk (columnar formats)."""
        scored = _written(scored)
        ok = pc.fill_null(pc.equal(scored.column(STATUS), STATUS_OK), False)
        by_name = {f.name: f for f in self.results}
        arrays: list[Any] = []
        for name in self.names:
            f = by_name.get(name)
            if f is None:
                arrays.append(scored.column(name))
            elif name in self._replaced and not f.always:
                arrays.append(_merge(ok, scored.column(OUT + name), scored.column(name)))
            else:
                arrays.append(scored.column(OUT + name))
        return pa.Table.from_arrays(arrays, names=self.names)

    def rows(self, scored: pa.Table) -> Iterator[dict[str, Any]]:
        """The output rows of one scored chunk as dicts (JSON Lines)."""
        scored = _written(scored)
        if LINE in scored.schema.names:
            bases: Iterator[dict[str, Any]] = (parse_json_line(b)[0] for b in scored.column(LINE).to_pylist())
        else:
            bases = iter(scored.select(self.carry_names).to_pylist())
        status = scored.column(STATUS).to_pylist()
        values = {f.name: scored.column(OUT + f.name).to_pylist() for f in self.results}
        for i, base in enumerate(bases):
            row = dict(base)
            for f in self.results:
                v = values[f.name][i]
                if f.json and v is not None:
                    v = json.loads(v)
                if status[i] == STATUS_OK or f.always or f.name not in row:
                    row[f.name] = v
            yield row


def _merge(ok: pa.ChunkedArray, new: pa.ChunkedArray, old: pa.ChunkedArray) -> pa.ChunkedArray:
    """New values on scored rows; the input's own values (cast to the new type) on rows left alone."""
    try:
        kept = pc.cast(old, new.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        kept = pa.chunked_array([pa.nulls(len(old), new.type)])
    return pc.if_else(ok, new, kept)


def reject_lines(scored: pa.Table) -> bytes:
    """The rejects file's lines for one scored chunk: rejected and skipped rows, with the reason."""
    status = scored.column(STATUS).to_pylist()
    cols = {key: scored.column(name).to_pylist() for key, name in
            (("row", ROW), ("id", ID), ("code", ERROR), ("field", ERROR_FIELD), ("reason", ERROR_MSG))}  # fmt: skip
    return b"".join(
        utf8_json({key: values[i] for key, values in cols.items()}, compact=False) + b"\n"
        for i, s in enumerate(status)
        if s in (STATUS_REJECTED, STATUS_SKIPPED)
    )


class PartWriter(Protocol):
    suffix: str

    def write_part(self, scored: pa.Table, path: Path) -> None: ...

    def concat(self, parts: Sequence[Path], dest: Path) -> None: ...


def _append_files(parts: Sequence[Path], out: Any) -> None:
    for part in parts:
        with open(part, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)


class JsonlWriter:
    suffix = ".jsonl"

    def __init__(self, layout: OutputLayout) -> None:
        self.layout = layout

    def write_part(self, scored: pa.Table, path: Path) -> None:
        with open(path, "wb") as f:
            for row in self.layout.rows(scored):
                f.write(utf8_json(row) + b"\n")

    def concat(self, parts: Sequence[Path], dest: Path) -> None:
        with open(dest, "wb") as out:
            _append_files(parts, out)


class CsvWriter:
    suffix = ".csv"

    def __init__(self, layout: OutputLayout, schema: pa.Schema) -> None:
        self.layout = layout
        self.schema = schema

    def write_part(self, scored: pa.Table, path: Path) -> None:
        table = self.layout.table(scored).cast(self.schema)
        pacsv.write_csv(table, str(path), write_options=pacsv.WriteOptions(include_header=False))

    def concat(self, parts: Sequence[Path], dest: Path) -> None:
        with open(dest, "wb") as out:
            header = pa.BufferOutputStream()
            pacsv.write_csv(self.schema.empty_table(), header)
            out.write(header.getvalue().to_pybytes())
            _append_files(parts, out)


class ParquetWriter:
    suffix = ".parquet"
    # Parts are small (one chunk); the final file gets row groups of a useful size.
    row_group_rows = 65536

    def __init__(self, layout: OutputLayout, schema: pa.Schema) -> None:
        self.layout = layout
        self.schema = schema

    def write_part(self, scored: pa.Table, path: Path) -> None:
        pq.write_table(self.layout.table(scored).cast(self.schema), str(path))

    def concat(self, parts: Sequence[Path], dest: Path) -> None:
        with pq.ParquetWriter(str(dest), self.schema) as writer:
            pending: list[pa.RecordBatch] = []
            rows = 0
            for part in parts:
                pf = pq.ParquetFile(part)
                try:
                    for batch in pf.iter_batches(batch_size=self.row_group_rows, use_threads=False):
                        pending.append(batch)
                        rows += batch.num_rows
                        if rows >= self.row_group_rows:
                            table = pa.Table.from_batches(pending, schema=self.schema)
                            full = (rows // self.row_group_rows) * self.row_group_rows
                            writer.write_table(table.slice(0, full), row_group_size=self.row_group_rows)
                            rest = table.slice(full)
                            pending, rows = rest.to_batches(), rest.num_rows
                finally:
                    pf.close()
            if rows:
                writer.write_table(
                    pa.Table.from_batches(pending, schema=self.schema), row_group_size=self.row_group_rows
                )


def make_writer(fmt: str, layout: OutputLayout, empty_scored: pa.Table) -> PartWriter:
    """The part writer for ``fmt``; ``empty_scored`` (a scored table with no rows) fixes the schema."""
    if fmt == "jsonl":
        return JsonlWriter(layout)
    schema = layout.table(empty_scored).schema
    if fmt == "csv":
        nested = [f.name for f in schema if pa.types.is_nested(f.type)]
        if nested:
            raise InputError(
                f"columns {nested} are nested and cannot be written to CSV; write Parquet or JSON Lines"
            )
        return CsvWriter(layout, schema)
    return ParquetWriter(layout, schema)

"""Parquet input: row groups read in batches (``ParquetFile.iter_batches``), re-cut into chunks of rows.

Parquet does not validate UTF-8 when reading, and ``to_pylist`` on a broken string raises for the whole
column, so every string column of a chunk is checked (one fast C++ pass when clean); a row with broken
bytes in any column is rejected with ``invalid_utf8``, and its carried value shows U+FFFD in their place
(a nested value with broken bytes is carried as null).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from batch.columns import Columns
from batch.control import ControlBuilder, column_getter, with_control


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _repair_column(col: pa.ChunkedArray) -> tuple[pa.ChunkedArray, list[bool]] | None:
    """None when ``col`` holds valid UTF-8; else the column with broken values repaired, and which rows."""
    try:
        col.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    t = col.type
    plain = pc.cast(col, t.value_type) if pa.types.is_dictionary(t) else col
    if _is_text(plain.type):
        values: list[Any] = []
        bad: list[bool] = []
        for b in plain.cast(pa.large_binary()).to_pylist():
            try:
                values.append(None if b is None else b.decode("utf-8"))
                bad.append(False)
            except UnicodeDecodeError:
                values.append(b.decode("utf-8", errors="replace"))
                bad.append(True)
        fixed = pa.chunked_array([pa.array(values, plain.type)])
        return (fixed.cast(t) if pa.types.is_dictionary(t) else fixed), bad
    # Nested (lists, structs of strings): find the broken rows one by one, carry them as null.
    flat = col.combine_chunks()
    bad = []
    for i in range(len(flat)):
        try:
            flat.slice(i, 1).validate(full=True)
            bad.append(False)
        except pa.ArrowInvalid:
            bad.append(True)
    return pa.chunked_array([pc.if_else(pa.array(bad), pa.nulls(len(flat), t), flat)]), bad


def parquet_work(carry: pa.Table, first_row: int, columns: Columns) -> pa.Table:
    """The work table of one chunk of Parquet rows starting at global row ``first_row``."""
    carry = carry.replace_schema_metadata(None).combine_chunks()
    broken: list[tuple[str, list[bool]]] = []
    for i, name in enumerate(carry.schema.names):
        repaired = _repair_column(carry.column(i))
        if repaired is not None:
            carry = carry.set_column(i, carry.schema.field(i), repaired[0])
            broken.append((name, repaired[1]))
    wanted = [columns.id, columns.text, columns.channel, columns.created_at, columns.manual, *columns.heads]
    names = set(carry.schema.names)
    values = {
        name: carry.column(name).to_pylist() for name in dict.fromkeys(w for w in wanted if w and w in names)
    }
    control = ControlBuilder(columns)
    for i in range(carry.num_rows):
        field = next((name for name, flags in broken if flags[i]), None)
        error = (
            ("invalid_utf8", field, f"{field!r} is not valid UTF-8 (broken bytes were read)")
            if field
            else None
        )
        control.add(first_row + i, column_getter(values, i), error)
    return with_control(carry, control)


def _first_group(row_group_rows: Sequence[int], start: int) -> tuple[int, int]:
    """The row group holding row ``start``, and how many rows of it come before ``start``."""
    before = 0
    for g, n in enumerate(row_group_rows):
        if before + n > start:
            return g, start - before
        before += n
    return len(row_group_rows), 0


def parquet_chunks(
    path: Path, row_group_rows: Sequence[int], columns: Columns, chunk_size: int, start: int, stop: int
) -> Iterator[pa.Table]:
    """Work tables of ``chunk_size`` rows for rows ``[start, stop)``, read without holding the file."""
    if start >= stop:
        return
    first, skip = _first_group(row_group_rows, start)
    pf = pq.ParquetFile(path)
    try:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        row = start
        groups = list(range(first, len(row_group_rows)))
        for batch in pf.iter_batches(batch_size=chunk_size, row_groups=groups, use_threads=False):
            if skip:
                if batch.num_rows <= skip:
                    skip -= batch.num_rows
                    continue
                batch, skip = batch.slice(skip), 0
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= chunk_size or (pending_rows and row + pending_rows >= stop):
                table = pa.Table.from_batches(pending)
                take = min(chunk_size, stop - row, pending_rows)
                yield parquet_work(table.slice(0, take), row, columns)
                row += take
                if row >= stop:
                    return
                rest = table.slice(take)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows and row < stop:
            yield parquet_work(pa.Table.from_batches(pending).slice(0, stop - row), row, columns)
    finally:
        pf.close()

"""The job's input: one file (JSON Lines, CSV or Parquet) read as work tables, one chunk of rows at a time.

Nothing ever holds the whole file. Chunk k always holds rows ``[k*C, (k+1)*C)``, so that a resumed job
and every engine (local, worker processes, Ray) build exactly the same chunks. The format-specific
reading lives in :mod:`batch.parquet_reader` and :mod:`batch.text_readers`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from batch.columns import LINE, PREFIX, Columns
from batch.control import ControlBuilder, with_control
from batch.parquet_reader import parquet_chunks
from batch.text_readers import SURROGATE, Row, csv_rows, jsonl_rows, open_csv
from triage.errors import InputError

FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COUNT_BLOCK = 1 << 22


def detect_format(path: Path, explicit: str | None = None) -> str:
    """The file format: ``explicit`` when given, else from the extension."""
    if explicit:
        if explicit not in FORMATS:
            raise InputError(
                f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}", code="unknown_format"
            )
        return explicit
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot tell the format of {path} from its extension; name it .jsonl, .csv or .parquet or pass --format",
            code="unknown_format",
        )
    return fmt


def _check_names(names: Sequence[str], columns: Columns, path: Path) -> None:
    """Reserved and duplicate names, and the mapped columns a columnar file must have, fail at open."""
    reserved = [n for n in names if n.startswith(PREFIX)]
    if reserved:
        raise InputError(
            f"{path}: column names starting with {PREFIX!r} are reserved: {reserved}", code="bad_columns"
        )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if list(names).count(n) > 1})
        raise InputError(f"{path}: duplicate column names {dupes}", code="bad_columns")
    # A --keep-manual column that is not there is a typo: every person's label would be overwritten.
    wanted = [(columns.text, "--text-column"), (columns.id, "--id-column"), (columns.manual, "--keep-manual")]
    for name, option in wanted:
        if name and name not in names:
            raise InputError(
                f"{path} has no column {name!r} (columns: {list(names)}); map yours with {option}",
                code="missing_column",
                field=name,
            )


class InputSource:
    """One input file, read chunk by chunk. Holds only plain data so that Ray can ship it to workers."""

    def __init__(self, path: Path, fmt: str, columns: Columns, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.path = Path(path)
        self.format = fmt
        self.columns = columns
        self.chunk_size = chunk_size
        self.carry_schema: pa.Schema | None = None  # None for JSON Lines: the carry is the raw line
        self.num_rows: int | None = None  # exact, when the format says so (Parquet)
        self.row_group_rows: list[int] = []
        if not self.path.is_file():
            raise InputError(f"input file {self.path} does not exist", code="input_not_found")
        if fmt == "parquet":
            self._inspect_parquet()
        elif fmt == "csv":
            self._inspect_csv()

    # ---- inspection (at open: a mis-mapped column fails before any work) ----

    def _inspect_parquet(self) -> None:
        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{self.path} is not a readable Parquet file: {exc}", code="unreadable_input"
            ) from exc
        try:
            schema = pf.schema_arrow
            _check_names(schema.names, self.columns, self.path)
            t = schema.field(self.columns.text).type
            if pa.types.is_dictionary(t):
                t = t.value_type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                    or pa.types.is_large_binary(t)):  # fmt: skip
                raise InputError(
                    f"{self.path}: the text column {self.columns.text!r} has type {t}, not string",
                    code="bad_columns",
                )
            self.carry_schema = schema.remove_metadata()
            md = pf.metadata
            self.num_rows = md.num_rows
            self.row_group_rows = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        finally:
            pf.close()

    def _inspect_csv(self) -> None:
        with open_csv(self.path) as f:
            try:
                header = next(csv.reader(f))
            except StopIteration:
                raise InputError(
                    f"{self.path} is empty: a CSV needs a header row", code="bad_columns"
                ) from None
            except csv.Error as exc:
                raise InputError(
                    f"{self.path}: cannot read the CSV header: {exc}", code="bad_columns"
                ) from exc
        if any(SURROGATE.search(h) for h in header):
            raise InputError(f"{self.path}: the CSV header is not valid UTF-8", code="invalid_utf8")
        _check_names(header, self.columns, self.path)
        self.carry_schema = pa.schema([pa.field(h, pa.string()) for h in header])

    # ---- reading ----

    def count_rows(self) -> int:
        """Rows in the file: exact for Parquet, counted from line ends (an estimate for CSV) otherwise."""
        if self.num_rows is not None:
            return self.num_rows
        lines = 0
        last = b"\n"
        with open(self.path, "rb") as f:
            while block := f.read(_COUNT_BLOCK):
                lines += block.count(b"\n")
                last = block[-1:]
        lines += last != b"\n"
        return max(0, lines - (1 if self.format == "csv" else 0))

    def empty_table(self) -> pa.Table:
        """A work table with no rows: the schema every chunk of this source has."""
        carry = (
            pa.table({LINE: pa.array([], pa.binary())})
            if self.carry_schema is None
            else self.carry_schema.empty_table()
        )
        return with_control(carry, ControlBuilder(self.columns))

    def chunks(self, start_row: int = 0, stop_row: int | None = None) -> Iterator[pa.Table]:
        """Work tables of ``chunk_size`` rows (the last may be shorter) for rows ``[start_row, stop_row)``.

        ``start_row`` must fall on a chunk boundary (see the module docstring).
        """
        if start_row % self.chunk_size:
            raise ValueError(f"start_row {start_row} is not a multiple of the chunk size {self.chunk_size}")
        if self.format == "parquet":
            total = self.num_rows or 0
            stop = total if stop_row is None else min(stop_row, total)
            yield from parquet_chunks(
                self.path, self.row_group_rows, self.columns, self.chunk_size, start_row, stop
            )
        elif self.format == "csv":
            assert self.carry_schema is not None
            yield from self._text_chunks(csv_rows(self.path, self.carry_schema.names), start_row, stop_row)
        else:
            yield from self._text_chunks(jsonl_rows(self.path), start_row, stop_row)

    def _text_chunks(self, rows: Iterator[Row], start: int, stop: int | None) -> Iterator[pa.Table]:
        control = ControlBuilder(self.columns)
        carry: list[Any] = []
        # Rows before ``start`` are parsed and counted, not kept: text formats cannot seek to a row.
        for row, (payload, get, error) in enumerate(rows):
            if stop is not None and row >= stop:
                break
            if row >= start:
                carry.append(payload)
                control.add(row, get, error)
                if len(carry) == self.chunk_size:
                    yield with_control(self._carry_table(carry), control)
                    control = ControlBuilder(self.columns)
                    carry = []
        if carry:
            yield with_control(self._carry_table(carry), control)

    def _carry_table(self, payloads: list[Any]) -> pa.Table:
        if self.carry_schema is None:
            return pa.table({LINE: pa.array(payloads, pa.binary())})
        names = self.carry_schema.names
        return pa.table(
            {name: pa.array([p[j] for p in payloads], pa.string()) for j, name in enumerate(names)}
        )

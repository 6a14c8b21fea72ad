"""Streaming readers and writers for JSON Lines, CSV and Parquet, one chunk of rows at a time.

A reader turns the input file into *work tables*: Arrow tables of at most ``chunk_size`` rows that hold
the input's own columns unchanged (the *carry*) plus control columns named ``__triage_*`` (global row
index, the post's id and text, channel, manual flag, the labels already in the input, and any problem
found while reading). Nothing ever holds the whole file: Parquet is read with
``ParquetFile.iter_batches``, CSV with the standard library's streaming ``csv`` reader (so that one
ragged row or one broken byte becomes one rejected row instead of an error for a whole block, which is
what ``pyarrow.csv`` would do), JSON Lines line by line.

Writers turn *scored* tables (work tables plus ``__triage_out_*`` result columns) into output rows: the
input's columns in their order, result columns that share a name with an input column replacing it in
place, the other result columns appended. Each finished chunk becomes one part file; ``concat`` joins
the parts into the final file.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from triage.errors import InputError
from triage.types import CHANNELS

FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# Control columns travel with the rows (also through Ray) and never reach the output.
PREFIX = "__triage_"
ROW = PREFIX + "row"
ID = PREFIX + "id"
TEXT = PREFIX + "text"
CHANNEL = PREFIX + "channel"
CREATED_AT = PREFIX + "created_at"
MANUAL = PREFIX + "manual"
ERROR = PREFIX + "error"
ERROR_FIELD = PREFIX + "error_field"
ERROR_MSG = PREFIX + "error_msg"
OLD = PREFIX + "old_"
LINE = PREFIX + "line"
OUT = PREFIX + "out_"
STATUS = PREFIX + "status"

TIMESTAMP = pa.timestamp("us", tz="UTC")
_MISSING: Any = object()
# Values of a --keep-manual column that mean "set by the model". Anything else that is present (a
# name, "human", "yes", 1) means a person set the labels: when unsure, never overwrite a person.
_NOT_MANUAL = frozenset({"", "0", "false", "f", "no", "n", "off", "none", "null", "nan", "model", "auto", "machine"})
_SURROGATE = re.compile("[\udc80-\udcff]")
_COUNT_BLOCK = 1 << 22


def detect_format(path: Path, explicit: str | None = None) -> str:
    """The file format: ``explicit`` when given, else from the extension."""
    if explicit:
        if explicit not in FORMATS:
            raise InputError(f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}", code="unknown_format")
        return explicit
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot tell the format of {path} from its extension; name it .jsonl, .csv or .parquet or pass --format",
            code="unknown_format",
        )
    return fmt


@dataclass(frozen=True)
class Columns:
    """Which input columns feed the post. ``channel`` and ``created_at`` are used only when present."""

    id: str = "id"
    text: str = "text"
    channel: str | None = "channel"
    created_at: str | None = None
    manual: str | None = None
    # Label columns already in the input, one per model head: compared (--dry-run, summary) and kept
    # for manual rows. Set by the job from the model's schema.
    heads: tuple[str, ...] = ()


def _is_stringish(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _decode_values(col: pa.ChunkedArray) -> tuple[list[Any], list[bool]]:
    """Python values of a column; string columns are decoded strictly, flagging broken UTF-8 per row.

    Parquet does not validate UTF-8 when reading, and ``to_pylist`` on a broken string raises for the
    whole column, so strings are taken as bytes and decoded one by one.
    """
    t = col.type
    if pa.types.is_dictionary(t):
        col = pc.cast(col, t.value_type)
        t = t.value_type
    if not _is_stringish(t):
        values = col.to_pylist()
        return values, [False] * len(values)
    raw = col.cast(pa.large_binary()).to_pylist()
    out: list[Any] = []
    bad: list[bool] = []
    for b in raw:
        if b is None:
            out.append(None)
            bad.append(False)
            continue
        try:
            out.append(b.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            out.append(b.decode("utf-8", errors="replace"))
            bad.append(True)
    return out, bad


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == value and value != 0  # NaN is "not set"
    if isinstance(value, str):
        return value.strip().lower() not in _NOT_MANUAL
    return True


def _parse_time(value: Any) -> datetime:
    """A timestamp from an ISO 8601 string, epoch seconds (or milliseconds) or a datetime; naive is UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    elif isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 1e11 else value
        dt = datetime.fromtimestamp(seconds, UTC)
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"a {type(value).__name__} is not a time")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class _Control:
    """Builds the control columns of one chunk, row by row."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.rows: list[int] = []
        self.ids: list[str | None] = []
        self.texts: list[str | None] = []
        self.channels: list[str | None] = []
        self.created: list[datetime | None] = []
        self.manual: list[bool] = []
        self.old: dict[str, list[str | None]] = {h: [] for h in columns.heads}
        self.errors: list[str | None] = []
        self.error_fields: list[str | None] = []
        self.error_msgs: list[str | None] = []

    def add(self, row: int, get: Callable[[str], Any], error: tuple[str, str | None, str] | None = None) -> None:
        """Record one row. ``get(name)`` gives a column's value or ``_MISSING``; ``error`` is a read problem."""
        cols = self.columns
        text = get(cols.text)
        if error is None:
            if text is _MISSING or text is None:
                error = ("missing_text", cols.text, f"the row has no {cols.text!r} value")
            elif not isinstance(text, str):
                error = ("invalid_type", cols.text, f"{cols.text!r} must be a string, not {type(text).__name__}")
        raw_id = get(cols.id)
        ident = None if raw_id is _MISSING or raw_id is None else str(raw_id)
        channel = None
        if cols.channel:
            value = get(cols.channel)
            if isinstance(value, str) and value.strip():
                channel = value.strip().lower()
                if channel not in CHANNELS and error is None:
                    error = ("invalid_channel", cols.channel, f"unknown channel; use one of {', '.join(CHANNELS)}")
            elif value not in (_MISSING, None, "") and error is None:
                error = ("invalid_channel", cols.channel, f"{cols.channel!r} must be a string")
        created = None
        if cols.created_at:
            value = get(cols.created_at)
            if value not in (_MISSING, None, ""):
                try:
                    created = _parse_time(value)
                except (ValueError, OverflowError, OSError) as exc:
                    if error is None:
                        error = ("invalid_created_at", cols.created_at, f"cannot read the time: {exc}")
        manual = _truthy(get(cols.manual)) if cols.manual else False
        for head in cols.heads:
            value = get(head)
            self.old[head].append(None if value is _MISSING or value is None or value == "" else str(value))
        self.rows.append(row)
        self.ids.append(ident)
        self.texts.append(text if error is None else None)
        self.channels.append(channel if error is None else None)
        self.created.append(created if error is None else None)
        self.manual.append(manual)
        self.errors.append(error[0] if error else None)
        self.error_fields.append(error[1] if error else None)
        self.error_msgs.append(error[2] if error else None)

    def arrays(self) -> dict[str, pa.Array]:
        out = {
            ROW: pa.array(self.rows, pa.int64()),
            ID: pa.array(self.ids, pa.string()),
            TEXT: pa.array(self.texts, pa.string()),
            CHANNEL: pa.array(self.channels, pa.string()),
            CREATED_AT: pa.array(self.created, TIMESTAMP),
            MANUAL: pa.array(self.manual, pa.bool_()),
            ERROR: pa.array(self.errors, pa.string()),
            ERROR_FIELD: pa.array(self.error_fields, pa.string()),
            ERROR_MSG: pa.array(self.error_msgs, pa.string()),
        }
        for head, values in self.old.items():
            out[OLD + head] = pa.array(values, pa.string())
        return out


def _with_control(carry: pa.Table, control: _Control) -> pa.Table:
    table = carry
    for name, array in control.arrays().items():
        table = table.append_column(name, array)
    return table


def _check_names(names: Sequence[str], columns: Columns, path: Path, need_id: bool = True) -> None:
    reserved = [n for n in names if n.startswith(PREFIX)]
    if reserved:
        raise InputError(f"{path}: column names starting with {PREFIX!r} are reserved: {reserved}", code="bad_columns")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if list(names).count(n) > 1})
        raise InputError(f"{path}: duplicate column names {dupes}", code="bad_columns")
    wanted = [columns.text] + ([columns.id] if need_id else [])
    missing = [c for c in wanted if c not in names]
    if missing:
        raise InputError(
            f"{path} has no column {missing[0]!r} (columns: {list(names)}); map yours with --text-column / --id-column",
            code="missing_column",
            field=missing[0],
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
            raise InputError(f"{self.path} is not a readable Parquet file: {exc}", code="unreadable_input") from exc
        try:
            schema = pf.schema_arrow
            _check_names(schema.names, self.columns, self.path)
            t = schema.field(self.columns.text).type
            if pa.types.is_dictionary(t):
                t = t.value_type
            if not _is_stringish(t):
                raise InputError(
                    f"{self.path}: the text column {self.columns.text!r} has type {t}, not string", code="bad_columns"
                )
            self.carry_schema = schema.remove_metadata()
            md = pf.metadata
            self.num_rows = md.num_rows
            self.row_group_rows = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        finally:
            pf.close()

    def _open_csv(self) -> Any:
        # surrogateescape keeps broken bytes visible (as lone surrogates) so that each bad row can be
        # reported; utf-8-sig drops a byte-order mark from the header.
        return open(self.path, newline="", encoding="utf-8-sig", errors="surrogateescape")

    def _inspect_csv(self) -> None:
        with self._open_csv() as f:
            try:
                header = next(csv.reader(f))
            except StopIteration:
                raise InputError(f"{self.path} is empty: a CSV needs a header row", code="bad_columns") from None
            except csv.Error as exc:
                raise InputError(f"{self.path}: cannot read the CSV header: {exc}", code="bad_columns") from exc
        if any(_SURROGATE.search(h) for h in header):
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
        return _with_control(self._empty_carry(), _Control(self.columns))

    def _empty_carry(self) -> pa.Table:
        if self.carry_schema is None:
            return pa.table({LINE: pa.array([], pa.binary())})
        return self.carry_schema.empty_table()

    def chunks(self, start_row: int = 0, stop_row: int | None = None) -> Iterator[pa.Table]:
        """Work tables of ``chunk_size`` rows (the last may be shorter) for rows ``[start_row, stop_row)``.

        ``start_row`` must fall on a chunk boundary: chunk k always holds rows ``[k*C, (k+1)*C)``, so that
        a resumed job and every engine build exactly the same chunks.
        """
        if start_row % self.chunk_size:
            raise ValueError(f"start_row {start_row} is not a multiple of the chunk size {self.chunk_size}")
        if self.format == "parquet":
            yield from self._parquet_chunks(start_row, stop_row)
        elif self.format == "csv":
            yield from self._text_chunks(self._csv_rows(), start_row, stop_row)
        else:
            yield from self._text_chunks(self._jsonl_rows(), start_row, stop_row)

    def _parquet_chunks(self, start: int, stop: int | None) -> Iterator[pa.Table]:
        total = self.num_rows or 0
        stop = total if stop is None else min(stop, total)
        if start >= stop:
            return
        first, before = 0, 0
        for g, n in enumerate(self.row_group_rows):
            if before + n > start:
                first = g
                break
            before += n
        skip = start - before
        pf = pq.ParquetFile(self.path)
        try:
            pending: list[pa.RecordBatch] = []
            pending_rows = 0
            row = start
            groups = list(range(first, len(self.row_group_rows)))
            for batch in pf.iter_batches(batch_size=self.chunk_size, row_groups=groups, use_threads=False):
                if skip:
                    if batch.num_rows <= skip:
                        skip -= batch.num_rows
                        continue
                    batch = batch.slice(skip)
                    skip = 0
                pending.append(batch)
                pending_rows += batch.num_rows
                while pending_rows >= self.chunk_size or (pending_rows and row + pending_rows >= stop):
                    table = pa.Table.from_batches(pending)
                    take = min(self.chunk_size, stop - row, pending_rows)
                    yield self._parquet_work(table.slice(0, take), row)
                    row += take
                    if row >= stop:
                        return
                    rest = table.slice(take)
                    pending = rest.to_batches()
                    pending_rows = rest.num_rows
            if pending_rows and row < stop:
                yield self._parquet_work(pa.Table.from_batches(pending).slice(0, stop - row), row)
        finally:
            pf.close()

    def _parquet_work(self, carry: pa.Table, first_row: int) -> pa.Table:
        assert self.carry_schema is not None
        carry = carry.replace_schema_metadata(None).combine_chunks()
        cols = self.columns
        wanted = [cols.id, cols.text, cols.channel, cols.created_at, cols.manual, *cols.heads]
        names = set(carry.schema.names)
        values: dict[str, list[Any]] = {}
        bad: dict[str, list[bool]] = {}
        for name in dict.fromkeys(w for w in wanted if w and w in names):
            values[name], bad[name] = _decode_values(carry.column(name))
        control = _Control(cols)
        for i in range(carry.num_rows):
            broken = next((n for n, flags in bad.items() if flags[i]), None)
            error = (
                ("invalid_utf8", broken, f"{broken!r} is not valid UTF-8 (broken bytes were read)") if broken else None
            )
            control.add(first_row + i, _column_getter(values, i), error)
        return _with_control(carry, control)

    def _text_chunks(
        self, rows: Iterator[tuple[Any, Callable[[str], Any], tuple[str, str | None, str] | None]], start: int, stop: int | None
    ) -> Iterator[pa.Table]:
        control = _Control(self.columns)
        carry: list[Any] = []
        # Rows before ``start`` are parsed and counted, not kept: text formats cannot seek to a row.
        for row, (payload, get, error) in enumerate(rows):
            if stop is not None and row >= stop:
                break
            if row >= start:
                carry.append(payload)
                control.add(row, get, error)
                if len(carry) == self.chunk_size:
                    yield _with_control(self._carry_table(carry), control)
                    control = _Control(self.columns)
                    carry = []
        if carry:
            yield _with_control(self._carry_table(carry), control)

    def _carry_table(self, payloads: list[Any]) -> pa.Table:
        if self.carry_schema is None:
            return pa.table({LINE: pa.array(payloads, pa.binary())})
        names = self.carry_schema.names
        return pa.table({name: pa.array([p[j] for p in payloads], pa.string()) for j, name in enumerate(names)})

    def _csv_rows(self) -> Iterator[tuple[list[str], Callable[[str], Any], tuple[str, str | None, str] | None]]:
        assert self.carry_schema is not None
        header = self.carry_schema.names
        width = len(header)
        index = {name: j for j, name in enumerate(header)}
        # One post may legitimately exceed the csv module's 128 KiB field limit; the text limits decide.
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 28))
        with self._open_csv() as f:
            reader = csv.reader(f, strict=True)
            next(reader, None)
            while True:
                error: tuple[str, str | None, str] | None = None
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    fields = [""] * width
                    error = ("malformed_csv_row", None, f"line {reader.line_num}: {exc}")
                if not fields:
                    continue  # a blank line is not a row
                if len(fields) != width and error is None:
                    error = (
                        "malformed_csv_row",
                        None,
                        f"line {reader.line_num}: expected {width} fields, found {len(fields)}",
                    )
                fields = (fields + [""] * width)[:width]
                for j, value in enumerate(fields):
                    if _SURROGATE.search(value):
                        # Broken bytes: the row is rejected, the carried value keeps U+FFFD in their place.
                        fields[j] = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                        if error is None:
                            error = ("invalid_utf8", header[j], f"{header[j]!r} is not valid UTF-8 (line {reader.line_num})")
                yield fields, _list_getter(fields, index), error

    def _jsonl_rows(self) -> Iterator[tuple[bytes, Callable[[str], Any], tuple[str, str | None, str] | None]]:
        with open(self.path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue  # a blank line is not a row
                obj, error = parse_json_line(line, number)
                yield line, _dict_getter(obj), error


def _column_getter(values: Mapping[str, list[Any]], i: int) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        return values[name][i] if name in values else _MISSING

    return get


def _list_getter(fields: list[str], index: Mapping[str, int]) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        return fields[index[name]] if name in index else _MISSING

    return get


def _dict_getter(obj: Mapping[str, Any]) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        return obj.get(name, _MISSING)

    return get


def parse_json_line(line: bytes, number: int | None = None) -> tuple[dict[str, Any], tuple[str, str | None, str] | None]:
    """One JSON Lines row as a dict, and the read problem if any (the dict is then best effort)."""
    where = f"line {number}: " if number is not None else ""
    error: tuple[str, str | None, str] | None = None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = line.decode("utf-8", errors="replace")
        error = ("invalid_utf8", None, f"{where}not valid UTF-8 (byte {exc.start}: {exc.reason})")
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return {}, error or ("invalid_json", None, f"{where}not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return {}, error or ("invalid_json", None, f"{where}a row must be a JSON object, not {type(obj).__name__}")
    return obj, error


# ---------------------------------------------------------------- output


@dataclass(frozen=True)
class ResultField:
    """One column the job adds. ``json``: held as a JSON string (nested in JSON Lines output)."""

    name: str
    type: pa.DataType
    json: bool = False
    # Set on every row, also rows that were not scored (status and error).
    always: bool = False


@dataclass
class OutputLayout:
    """Where each output column comes from, fixed once per job so that every part has one schema."""

    carry_names: list[str]
    results: list[ResultField]
    carry_schema: pa.Schema | None = None
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        result_names = {f.name for f in self.results}
        self.names = list(self.carry_names) + [f.name for f in self.results if f.name not in self.carry_names]
        self._replaced = result_names & set(self.carry_names)

    def table(self, scored: pa.Table) -> pa.Table:
        """The output table of one scored chunk (columnar formats)."""
        ok = pc.fill_null(pc.equal(scored.column(STATUS), "ok"), False)
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
                if status[i] == "ok" or f.always or f.name not in row:
                    row[f.name] = v
            yield row


def _merge(ok: pa.ChunkedArray, new: pa.ChunkedArray, old: pa.ChunkedArray) -> pa.ChunkedArray:
    """New values on scored rows; the input's own values (cast to the new type) on rows left alone."""
    try:
        kept = pc.cast(old, new.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        kept = pa.chunked_array([pa.nulls(len(old), new.type)])
    return pc.if_else(ok, new, kept)


class PartWriter(Protocol):
    suffix: str

    def write_part(self, scored: pa.Table, path: Path) -> None: ...

    def concat(self, parts: Sequence[Path], dest: Path) -> None: ...


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def dumps_row(row: Mapping[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _append_files(parts: Sequence[Path], out: Any) -> None:
    for part in parts:
        with open(part, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)


class JsonlWriter:
    suffix = ".jsonl"

    def __init__(self, layout: OutputLayout) -> None:
        self.layout = layout

    def write_part(self, scored: pa.Table, path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for row in self.layout.rows(scored):
                f.write(dumps_row(row) + "\n")

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
                writer.write_table(pa.Table.from_batches(pending, schema=self.schema), row_group_size=self.row_group_rows)


def make_writer(fmt: str, layout: OutputLayout, empty_scored: pa.Table) -> PartWriter:
    """The part writer for ``fmt``; ``empty_scored`` (a scored table with no rows) fixes the schema."""
    if fmt == "jsonl":
        return JsonlWriter(layout)
    schema = layout.table(empty_scored).schema
    if fmt == "csv":
        nested = [f.name for f in schema if pa.types.is_nested(f.type)]
        if nested:
            raise InputError(f"columns {nested} are nested and cannot be written to CSV; write Parquet or JSON Lines")
        return CsvWriter(layout, schema)
    return ParquetWriter(layout, schema)

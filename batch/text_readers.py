"""CSV and JSON Lines input, row by row.

CSV is read with the standard library's streaming ``csv`` reader (so that one ragged row or one broken
byte becomes one rejected row instead of an error for a whole block, which is what ``pyarrow.csv`` would
do); JSON Lines line by line. Each row comes out as (payload to carry, getter of its values, read
problem). A blank line is a row too, with the problem ``blank_line``: the job skips it and reports it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batch.columns import BLANK_LINE, ReadError
from batch.control import Getter, dict_getter, list_getter
from batch.jsonline import parse_json_line

# Broken bytes read with ``surrogateescape`` come out as these lone surrogates.
SURROGATE = re.compile("[\udc80-\udcff]")
_BOM = b"\xef\xbb\xbf"

Row = tuple[Any, Getter, ReadError | None]


def open_csv(path: Path) -> Any:
    # surrogateescape keeps broken bytes visible (as lone surrogates) so that each bad row can be
    # reported; utf-8-sig drops a byte-order mark from the header.
    return open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")


def _blank(where: str) -> ReadError:
    return (BLANK_LINE, None, f"{where}: a blank line (skipped: not written to the output)")


def _repair_fields(
    fields: list[str], header: list[str], line: int, error: ReadError | None
) -> ReadError | None:
    """Replace broken bytes by U+FFFD in place (the carried value shows where they were) and name them."""
    for j, value in enumerate(fields):
        if SURROGATE.search(value):
            fields[j] = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            error = error or ("invalid_utf8", header[j], f"{header[j]!r} is not valid UTF-8 (line {line})")
    return error


def csv_rows(path: Path, header: list[str]) -> Iterator[Row]:
    """The data rows of a CSV file whose header is ``header``."""
    width = len(header)
    index = {name: j for j, name in enumerate(header)}
    # One post may legitimately exceed the csv module's 128 KiB field limit; the text limits decide.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 28))
    with open_csv(path) as f:
        reader = csv.reader(f, strict=True)
        next(reader, None)
        while True:
            error: ReadError | None = None
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                fields = [""] * width
                error = ("malformed_csv_row", None, f"line {reader.line_num}: {exc}")
            if not fields:
                yield [""] * width, dict_getter({}), _blank(f"line {reader.line_num}")
                continue
            if len(fields) != width and error is None:
                error = (
                    "malformed_csv_row",
                    None,
                    f"line {reader.line_num}: expected {width} fields, found {len(fields)}",
                )
            fields = (fields + [""] * width)[:width]
            error = _repair_fields(fields, header, reader.line_num, error)
            yield fields, list_getter(fields, index), error


def jsonl_rows(path: Path) -> Iterator[Row]:
    """The rows of a JSON Lines file: every line, blank ones included. The payload is the raw line."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\r\n")
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if not line.strip():
                yield b"", dict_getter({}), _blank(f"line {number}")
                continue
            obj, error = parse_json_line(line, number)
            yield line, dict_getter(obj), error

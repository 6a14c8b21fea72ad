"""One input row's control values: id, text, channel, time, manual flag, old labels and read problem.

Every reader hands each row here as a getter (``get(column) -> value or MISSING``), so the three formats
read a post, a manual flag or a time exactly the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from batch.columns import (
    CHANNEL,
    CREATED_AT,
    ERROR,
    ERROR_FIELD,
    ERROR_MSG,
    ID,
    MANUAL,
    OLD,
    ROW,
    TEXT,
    TIMESTAMP,
    Columns,
    ReadError,
)
from triage.types import CHANNELS

MISSING: Any = object()
# Values of a --keep-manual column that mean "set by the model". Anything else that is present (a
# name, "human", "yes", 1) means a person set the labels: when unsure, never overwrite a person. A row
# without the column (a JSON Lines row without the key) was not labelled by a person.
_NOT_MANUAL = frozenset(
    {"", "0", "false", "f", "no", "n", "off", "none", "null", "nan", "model", "auto", "machine"}
)

Getter = Callable[[str], Any]


def is_manual(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == value and value != 0  # NaN is "not set"
    if isinstance(value, str):
        return value.strip().lower() not in _NOT_MANUAL
    return True


def parse_time(value: Any) -> datetime:
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


def _text_problem(columns: Columns, text: Any) -> ReadError | None:
    if text is MISSING or text is None:
        return ("missing_text", columns.text, f"the row has no {columns.text!r} value")
    if not isinstance(text, str):
        return ("invalid_type", columns.text, f"{columns.text!r} must be a string, not {type(text).__name__}")
    return None


def _channel(columns: Columns, get: Getter) -> tuple[str | None, ReadError | None]:
    if not columns.channel:
        return None, None
    value = get(columns.channel)
    if isinstance(value, str) and value.strip():
        channel = value.strip().lower()
        if channel not in CHANNELS:
            return None, (
                "invalid_channel",
                columns.channel,
                f"unknown channel; use one of {', '.join(CHANNELS)}",
            )
        return channel, None
    if value in (MISSING, None, ""):
        return None, None
    return None, ("invalid_channel", columns.channel, f"{columns.channel!r} must be a string")


def _created_at(columns: Columns, get: Getter) -> tuple[datetime | None, ReadError | None]:
    if not columns.created_at:
        return None, None
    value = get(columns.created_at)
    if value is MISSING or value is None or value == "":
        return None, None
    try:
        return parse_time(value), None
    except (ValueError, OverflowError, OSError) as exc:
        return None, ("invalid_created_at", columns.created_at, f"cannot read the time: {str(exc)[:200]}")


class ControlBuilder:
    """Builds the control columns of one chunk, row by row."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.values: dict[str, list[Any]] = {
            name: [] for name in (ROW, ID, TEXT, CHANNEL, CREATED_AT, MANUAL, ERROR, ERROR_FIELD, ERROR_MSG)
        }
        self.old: dict[str, list[str | None]] = {h: [] for h in columns.heads}

    def add(self, row: int, get: Getter, error: ReadError | None = None) -> None:
        """Record one row. ``get(name)`` gives a column's value or ``MISSING``; ``error`` is a read problem."""
        cols = self.columns
        text = get(cols.text)
        channel, channel_error = _channel(cols, get)
        created, time_error = _created_at(cols, get)
        error = error or _text_problem(cols, text) or channel_error or time_error
        raw_id = get(cols.id)
        for head in cols.heads:
            value = get(head)
            self.old[head].append(None if value is MISSING or value is None or value == "" else str(value))
        v = self.values
        v[ROW].append(row)
        v[ID].append(None if raw_id is MISSING or raw_id is None else str(raw_id))
        v[TEXT].append(text if error is None else None)
        v[CHANNEL].append(channel if error is None else None)
        v[CREATED_AT].append(created if error is None else None)
        v[MANUAL].append(is_manual(get(cols.manual)) if cols.manual else False)
        v[ERROR].append(error[0] if error else None)
        v[ERROR_FIELD].append(error[1] if error else None)
        v[ERROR_MSG].append(error[2] if error else None)

    def __len__(self) -> int:
        return len(self.values[ROW])

    def arrays(self) -> dict[str, pa.Array]:
        types = {ROW: pa.int64(), CREATED_AT: TIMESTAMP, MANUAL: pa.bool_()}
        out = {name: pa.array(values, types.get(name, pa.string())) for name, values in self.values.items()}
        for head, values in self.old.items():
            out[OLD + head] = pa.array(values, pa.string())
        return out


def with_control(carry: pa.Table, control: ControlBuilder) -> pa.Table:
    """The work table: the carried input columns followed by the control columns."""
    table = carry
    for name, array in control.arrays().items():
        table = table.append_column(name, array)
    return table


def column_getter(values: Mapping[str, list[Any]], i: int) -> Getter:
    def get(name: str) -> Any:
        return values[name][i] if name in values else MISSING

    return get


def list_getter(fields: list[str], index: Mapping[str, int]) -> Getter:
    def get(name: str) -> Any:
        return fields[index[name]] if name in index else MISSING

    return get


def dict_getter(obj: Mapping[str, Any]) -> Getter:
    def get(name: str) -> Any:
        return obj.get(name, MISSING)

    return get

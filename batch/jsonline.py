"""One JSON Lines row in and out: strict parsing (broken bytes, lone surrogates) and UTF-8 that never fails.

The reader parses a line to find the post's fields; the JSON Lines writer parses the same (carried) line
again to write it back with the result columns, so both get the very same dict from here.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from batch.columns import ReadError

# A \u escape of a UTF-16 surrogate (d800-dfff). Legitimate pairs (an escaped emoji) match too; only a
# match makes the parsed object worth searching for lone ones, which JSON allows and UTF-8 cannot hold.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix(s: str) -> str:
    return _SURROGATE.sub("\ufffd", s)


def _scrub_value(value: Any) -> tuple[Any, bool]:
    """``value`` with lone surrogates replaced by U+FFFD (in keys too), and whether there were any.

    Iterative: a deeply nested line must not exhaust the stack (json itself nests up to ~1000 levels).
    """
    found = False
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, slot = stack.pop()
        item = parent[slot]
        if isinstance(item, str):
            if _SURROGATE.search(item):
                parent[slot], found = _fix(item), True
        elif isinstance(item, list):
            stack.extend((item, i) for i in range(len(item)))
        elif isinstance(item, dict):
            if any(_SURROGATE.search(k) for k in item):
                found = True
                item = parent[slot] = {_fix(k): v for k, v in item.items()}
            stack.extend((item, k) for k in item)
    return root[0], found


def _scrub(obj: dict[str, Any]) -> tuple[dict[str, Any], bool, str | None]:
    """``obj`` without lone surrogates, whether it had any, and the first top-level key that did."""
    out: dict[str, Any] = {}
    first: str | None = None
    found = False
    for key, value in obj.items():
        fixed, bad = _scrub_value(value)
        if _SURROGATE.search(key):
            key, bad = _fix(key), True
        if bad and not found:
            found, first = True, key
        out[key] = fixed
    return out, found, first


def parse_json_line(line: bytes, number: int | None = None) -> tuple[dict[str, Any], ReadError | None]:
    """One JSON Lines row as a dict, and the read problem if any (the dict is then best effort).

    Broken UTF-8 bytes and ``\\u`` escapes of lone surrogates are both ``invalid_utf8``; their places
    hold U+FFFD in the dict, so that every string in it can be written as UTF-8.
    """
    where = f"line {number}: " if number is not None else ""
    error: ReadError | None = None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = line.decode("utf-8", errors="replace")
        error = ("invalid_utf8", None, f"{where}not valid UTF-8 (byte {exc.start}: {exc.reason})")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return {}, error or ("invalid_json", None, f"{where}not valid JSON: {str(exc)[:200]}")
    if not isinstance(obj, dict):
        return {}, error or (
            "invalid_json",
            None,
            f"{where}a row must be a JSON object, not {type(obj).__name__}",
        )
    if _SURROGATE_ESCAPE.search(line):
        obj, found, key = _scrub(obj)
        if found:
            error = error or (
                "invalid_utf8",
                key,
                f"{where}a \\u escape of a lone UTF-16 surrogate (broken encoding)",
            )
    return obj, error


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def utf8_json(value: Any, *, compact: bool = True) -> bytes:
    """``value`` as JSON in UTF-8 (readable non-ASCII); escaped ASCII if a lone surrogate slipped through."""
    separators = (",", ":") if compact else None
    text = json.dumps(value, ensure_ascii=False, separators=separators, default=_json_default)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=separators, default=_json_default).encode(
            "ascii"
        )


def dumps_compact(value: Any) -> str:
    """Stable, compact JSON text (``ensure_ascii=False`` keeps Hebrew readable) for JSON result columns."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

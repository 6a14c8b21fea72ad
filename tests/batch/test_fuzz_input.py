"""Fuzzing the batch input path: whatever the rows hold, the job ends with a report that accounts for each.

Hypothesis writes JSON Lines and CSV files of random rows (any unicode, lone surrogates, bidi controls,
NUL, wrong types, missing columns, huge numbers, deep nesting, broken JSON, broken CSV quoting, blank
lines, ragged rows, repeated ids) and runs a job on each. The job must never raise: every row is scored,
rejected, kept as manual or skipped (``scored + rejected + manual + skipped == rows``), the output has
one row per row not skipped, the rejects file one line per row rejected or skipped, and the output is
valid UTF-8. Derandomised, with a bounded number of examples: the whole module stays under ~20 s.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch import Columns, EngineSpec, ReclassifyOptions, ReclassifyReport, reclassify
from tests.batch.conftest import AT
from tests.batch.fake_engine import make_engine
from triage.engine import Engine

SPECIAL = ["\u202e", "\u2066", "\u200b", "\u200f", "\ufeff", "\x00", "\ud800", "\udcff", "\n", "\r", '"', ",", "\\",
           "😂", "א", " ", "\t", "\u0085", "\u2028"]  # fmt: skip
CHARS = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIAL))  # surrogates included
TEXT = st.text(CHARS, max_size=24)
NUMBER = st.one_of(st.integers(-(10**30), 10**30), st.floats(allow_nan=True, allow_infinity=True))
SCALAR = st.one_of(TEXT, NUMBER, st.booleans(), st.none(), st.sampled_from(["facebook", "WhatsApp", "2025-03-01", ""]))
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                     max_leaves=6)  # fmt: skip
KEYS = ["id", "text", "channel", "created_at", "reviewed", "intent"]
BUDGET_S = 20.0
_spent = [0.0]

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def _engine() -> Engine:
    engine = make_engine()
    engine.warm_up()
    return engine


def warm_fake_engine(spec: EngineSpec) -> Engine:
    """One warmed fake engine for every example (jobs here score in this process)."""
    return _engine()


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes broken UTF-8 bytes


@st.composite
def json_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object"] * 6 + ["bytes", "huge", "truncated", "blank", "deep", "scalar"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b"")
    if kind == "huge":
        return b'{"id": "h", "text": "x", "created_at": 1' + b"0" * draw(st.integers(300, 6000)) + b"}"
    if kind == "blank":
        return draw(st.sampled_from([b"", b"  ", b"\t\r", b"\r"]))
    if kind == "deep":
        return b"[" * draw(st.integers(500, 3000)) + b'{"text": "x"}'
    if kind == "scalar":
        return draw(st.sampled_from([b"1e400", b"null", b'"text"', b"[]", b"NaN"]))
    row = {k: draw(VALUE) for k in KEYS if draw(st.booleans())}
    if draw(st.booleans()):
        row["text"] = draw(TEXT)
    if draw(st.booleans()):
        row["id"] = draw(st.sampled_from(["a", "b", "c", "\udc80", "x\ud83d", "\u202e", ""]))  # repeated, odd ids
    line = _encode(json.dumps(row, ensure_ascii=draw(st.booleans())))
    if kind == "truncated":
        line = line[: draw(st.integers(0, max(0, len(line) - 1)))]
    return line.replace(b"\n", b"")


@st.composite
def csv_record(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["row"] * 6 + ["ragged", "unterminated", "stray_quote", "blank", "bytes"]))
    if kind == "blank":
        return b"\r\n" if draw(st.booleans()) else b"\n"
    if kind == "bytes":
        return draw(st.binary(max_size=30)).translate(None, b'"\r\n') + b"\n"
    width = len(KEYS) if kind != "ragged" else draw(st.integers(1, len(KEYS) + 3))
    fields = [draw(st.one_of(TEXT, NUMBER.map(str), st.sampled_from(["a", "b", "true", "facebook", ""])))
              for _ in range(width)]
    buf = io.StringIO()
    csv.writer(buf).writerow(fields)
    line = _encode(buf.getvalue())
    if kind == "unterminated":
        line = b'a,"never closed ' + line
    elif kind == "stray_quote":
        line = b'"x"y,' + line
    return line


def _options() -> ReclassifyOptions:
    columns = Columns(created_at="created_at", manual="reviewed")
    return ReclassifyOptions(chunk_size=5, batch_size=3, reclassified_at=AT, workers=1, columns=columns)


def _run(src: Path) -> tuple[ReclassifyReport, Path]:
    out = src.with_name("out" + src.suffix)
    started = time.perf_counter()
    report = reclassify(src, out, _options(), engine_builder=warm_fake_engine)
    _spent[0] += time.perf_counter() - started
    assert _spent[0] < BUDGET_S, f"the fuzzed jobs took {_spent[0]:.1f} s, more than the {BUDGET_S} s budget"
    return report, out


def _check_accounting(report: ReclassifyReport, out: Path, output_rows: int) -> list[dict[str, Any]]:
    assert report.scored + report.rejected + report.manual + report.skipped == report.rows
    assert output_rows == report.rows - report.skipped
    assert sum(report.rejects_by_code.values()) == report.rejected
    rejects = [json.loads(line) for line in out.with_name(out.name + ".rejects.jsonl").read_text("utf-8").splitlines()]
    assert len(rejects) == report.rejected + report.skipped
    assert [r["row"] for r in rejects] == sorted({r["row"] for r in rejects})
    assert all(r["code"] and r["reason"] for r in rejects)
    assert not out.with_name(out.name + ".partial").exists()
    return rejects


@SETTINGS
@given(st.lists(json_line(), max_size=14))
def test_fuzzed_json_lines_never_crash_and_every_line_is_accounted_for(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_bytes(b"".join(line + b"\n" for line in lines))
        report, out = _run(src)
        assert report.rows == len(lines)
        written = out.read_bytes().decode("utf-8").splitlines()  # strict UTF-8
        rows = [json.loads(line) for line in written]
        _check_accounting(report, out, len(rows))
        assert [r["reclassify_status"] for r in rows].count("ok") == report.scored


@SETTINGS
@given(st.lists(csv_record(), max_size=14), st.booleans())
def test_fuzzed_csv_never_crashes_and_every_record_is_accounted_for(records: list[bytes], bom: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.csv"
        src.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ",".join(KEYS).encode() + b"\n" + b"".join(records))
        report, out = _run(src)
        with open(out, encoding="utf-8", newline="") as f:  # strict UTF-8
            written = list(csv.reader(f))
        assert written[0][: len(KEYS)] == KEYS
        _check_accounting(report, out, len(written) - 1)
        status = written[0].index("reclassify_status")
        assert [r[status] for r in written[1:]].count("ok") == report.scored
        if all(not r.startswith((b'a,"never', b'"x"y')) for r in records):
            assert report.rows == len(records)  # no broken quoting: one row per record written

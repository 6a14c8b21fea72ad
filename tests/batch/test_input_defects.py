"""Regressions of the batch issue: every input row accounted for, one validation with the API, backlog columns.

Each test failed on the code before the fix: blank lines vanished unreported, repeated ids went through,
lone surrogates crashed the job and broken Parquet bytes were scored, bidi overrides and invisible texts
were scored although the API refuses them, ``--keep-manual`` took a missing key for a person's label,
and the output had no rule, SLA, due time, actions or reasons.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch import Columns, EngineSpec, ReclassifyOptions, load_job_engine, reclassify
from tests.batch.conftest import AT, make_rows, read_rows, write_rows
from tests.batch.fake_engine import make_engine, make_routed_engine
from triage.engine import Engine
from triage.errors import ConfigError, InputError
from triage.text.validate import TextLimits, check_text
from triage.types import Post


def _rejects(out: Path) -> list[dict]:
    path = out.with_name(out.name + ".rejects.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- blank lines


def test_blank_lines_in_json_lines_are_skipped_counted_and_listed(tmp_path: Path, options: ReclassifyOptions) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "text": "hello"}\n\n{"id": "b", "text": "thanks"}\n  \t\r\n{"id": "c", "text": '
                    b'"x"}\n\n')
    out = tmp_path / "out.jsonl"
    report = reclassify(src, out, options, engine_builder=make_engine)
    assert (report.rows, report.scored, report.skipped, report.rejected) == (6, 3, 3, 0)
    assert report.rows == report.scored + report.manual + report.rejected + report.skipped
    assert [r["id"] for r in read_rows(out)] == ["a", "b", "c"]  # blank lines are not output rows
    assert [(r["row"], r["code"]) for r in _rejects(out)] == [(1, "blank_line"), (3, "blank_line"), (5, "blank_line")]
    assert "line 2" in _rejects(out)[0]["reason"]


def test_blank_lines_in_csv_are_skipped_counted_and_listed(tmp_path: Path, options: ReclassifyOptions) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\na,hello\n\nb,thanks\r\n\r\nc,x\n")
    out = tmp_path / "out.csv"
    report = reclassify(src, out, options, engine_builder=make_engine)
    assert (report.rows, report.scored, report.skipped) == (5, 3, 2)
    assert [r["id"] for r in read_rows(out)] == ["a", "b", "c"]
    assert [r["code"] for r in _rejects(out)] == ["blank_line", "blank_line"]


# ---------------------------------------------------------------- duplicate ids


class _Crash(Exception):
    pass


class _CrashAfter:
    """A progress sink that stops the job after ``n`` chunks."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, total: int, initial: int) -> _CrashAfter:
        return self

    def update(self, rows: int) -> None:
        self.n -= 1
        if self.n == 0:
            raise _Crash

    def close(self) -> None:
        pass


@pytest.mark.parametrize("ext", [".jsonl", ".csv", ".parquet"])
def test_repeated_ids_are_rejected_after_the_first_also_across_a_resume(
    tmp_path: Path, options: ReclassifyOptions, ext: str
) -> None:
    rows = make_rows(30)
    rows[6]["id"] = "p5"  # in the same chunk as its first row (chunks of 7)
    rows[12]["id"] = rows[25]["id"] = "p3"  # in later chunks, one after the interruption below
    rows[2]["text"] = ""  # a rejected row's id still counts as seen
    rows[20]["id"] = "p2"
    src = write_rows(rows, tmp_path / f"in{ext}")
    whole = tmp_path / f"whole{ext}"
    report = reclassify(src, whole, options, engine_builder=make_engine)

    assert report.rejects_by_code == {"duplicate_id": 4, "empty_text": 1}
    assert (report.rows, report.scored, report.rejected) == (30, 25, 5)
    got = read_rows(whole)
    assert len(got) == 30  # never dropped: the row stays, rejected, with its input values
    for i in (6, 12, 20, 25):
        assert got[i]["reclassify_status"] == "rejected" and got[i]["reclassify_error"] == "duplicate_id"
        assert got[i]["language"] is None and got[i]["text"] == rows[i]["text"]
    assert got[5]["reclassify_status"] == got[3]["reclassify_status"] == "ok"
    dupes = [r for r in _rejects(whole) if r["code"] == "duplicate_id"]
    assert [(r["row"], r["id"], r["field"]) for r in dupes] == [(6, "p5", "id"), (12, "p3", "id"), (20, "p2", "id"),
                                                                (25, "p3", "id")]  # fmt: skip

    out = tmp_path / f"out{ext}"
    with pytest.raises(_Crash):
        reclassify(src, out, options, progress=_CrashAfter(3), engine_builder=make_engine)
    resumed = reclassify(src, out, options, engine_builder=make_engine)
    assert resumed.resumed_from_row == 21 and resumed.rejects_by_code == report.rejects_by_code
    assert out.read_bytes() == whole.read_bytes()


def test_rows_without_an_id_are_never_duplicates(tmp_path: Path, options: ReclassifyOptions) -> None:
    src = write_rows([{"text": "hello"}, {"text": "hello"}, {"id": None, "text": "hi"}], tmp_path / "in.jsonl")
    assert reclassify(src, tmp_path / "out.jsonl", options, engine_builder=make_engine).scored == 3


# ---------------------------------------------------------------- invalid UTF-8


def test_lone_surrogate_escapes_in_json_lines_are_rejected_as_invalid_utf8(
    tmp_path: Path, options: ReclassifyOptions
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"id": "t", "text": "hello \\ud800 there"}\n'
        b'{"id": "\\udcff", "text": "hello"}\n'
        b'{"id": "n", "text": "hello", "note": ["ok", {"deep": "\\udbff"}]}\n'
        b'{"id": "k", "text": "hello", "\\ud801": 1}\n'
        b'{"id": "pair", "text": "escaped emoji \\ud83d\\ude00"}\n'
        b'{"id": "bytes", "text": "caf\xc3 broken"}\n'
    )
    out = tmp_path / "out.jsonl"
    report = reclassify(src, out, options, engine_builder=make_engine)
    assert (report.scored, report.rejects_by_code) == (1, {"invalid_utf8": 5})
    assert [(r["id"], r["field"]) for r in _rejects(out)] == [
        ("t", "text"), ("\ufffd", "id"), ("n", "note"), ("k", "\ufffd"), ("bytes", None),
    ]  # fmt: skip
    got = [json.loads(line) for line in out.read_bytes().decode("utf-8").splitlines()]  # strict UTF-8
    assert got[0]["text"] == "hello \ufffd there" and got[2]["note"] == ["ok", {"deep": "\ufffd"}]
    assert got[4]["reclassify_status"] == "ok" and got[4]["text"] == "escaped emoji 😀"


def _parquet_with_broken_bytes(path: Path) -> Path:
    def strings(values: list[bytes]) -> pa.Array:  # a string column holding these bytes, valid or not
        return pa.Array.from_buffers(pa.string(), len(values), pa.array(values, pa.binary()).buffers())

    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "text": strings([b"thanks", b"caf\xe9 latin-1", b"fine"]),
            "note": strings([b"x", b"y", b"\xff\xfe"]),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("ext", [".jsonl", ".csv", ".parquet"])
def test_broken_bytes_anywhere_in_a_parquet_row_reject_it_in_every_output_format(
    tmp_path: Path, options: ReclassifyOptions, ext: str
) -> None:
    src = _parquet_with_broken_bytes(tmp_path / "in.parquet")
    out = tmp_path / f"out{ext}"
    report = reclassify(src, out, options, engine_builder=make_engine)
    assert (report.scored, report.rejects_by_code) == (1, {"invalid_utf8": 2})
    assert [(r["id"], r["field"]) for r in _rejects(out)] == [("b", "text"), ("c", "note")]
    if ext != ".parquet":
        out.read_bytes().decode("utf-8")  # the output is valid UTF-8
    got = read_rows(out)
    assert [r["reclassify_status"] for r in got] == ["ok", "rejected", "rejected"]
    assert got[1]["text"] == "caf\ufffd latin-1" and got[2]["note"] == "\ufffd\ufffd"


def test_broken_bytes_in_csv_are_rejected_and_shown_as_replacement_characters(
    tmp_path: Path, options: ReclassifyOptions
) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b'id,text,note\na,"caf\xe9\nmulti-line",x\nb,\xed\xa0\x80,y\nc,ok,\xf4\x90\x80\x80\nd,fine,z\n')
    out = tmp_path / "out.csv"
    report = reclassify(src, out, options, engine_builder=make_engine)
    assert (report.scored, report.rejects_by_code) == (1, {"invalid_utf8": 3})
    assert [r["field"] for r in _rejects(out)] == ["text", "text", "note"]
    got = read_rows(out)
    assert got[0]["text"] == "caf\ufffd\nmulti-line" and got[1]["text"] == "\ufffd\ufffd\ufffd"


# ---------------------------------------------------------------- one validation with the API


TEXTS = {
    "bidi": "\u202eתודה\u202c רבה",
    "isolate": "hello \u2066world\u2069",
    "zero_width": "\u200b\u200c\u200d\ufeff",
    "nul": "\x00\x00",
    "mixed_invisible": " \u200b\x00\u200f\n\u2060 ",
    "long": "x" * 5001,
    "fine": "thanks a lot \u200b!",
    "rlm": "\u200fשלום\u200f",
}


def _check_code(engine: Engine, text: str) -> str | None:
    try:
        engine.check(Post(text=text))
    except InputError as exc:
        return exc.code
    return None


def test_the_job_rejects_what_the_engine_check_rejects_with_the_same_code(
    tmp_path: Path, options: ReclassifyOptions
) -> None:
    src = write_rows([{"id": key, "text": text} for key, text in TEXTS.items()], tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    reclassify(src, out, options, engine_builder=make_engine)
    got = {r["id"]: r["code"] for r in _rejects(out)}
    engine = make_engine()
    assert {key: got.get(key) for key in TEXTS} == {key: _check_code(engine, text) for key, text in TEXTS.items()}
    assert {key: got.get(key) for key in TEXTS} == {
        "bidi": "bidi_control", "isolate": "bidi_control", "zero_width": "empty_text", "nul": "empty_text",
        "mixed_invisible": "empty_text", "long": "text_too_long", "fine": None, "rlm": None,
    }  # fmt: skip


def test_the_library_default_limits_reject_bidi_overrides_like_the_api() -> None:
    assert TextLimits().reject_bidi_overrides is True


@pytest.mark.parametrize(
    ("text", "code"),
    [("\u200b", "empty_text"), ("\x00", "empty_text"), ("\ufeff\u2060\u200d", "empty_text"),
     ("\u200f \u200e", "empty_text"),
     ("\t\x0b\x1f", "empty_text"), ("😂", None), ("a\u200b", None), ("\x00x", None), ("\u05d0", None)],
)  # fmt: skip
def test_check_text_calls_invisible_only_text_empty(text: str, code: str | None) -> None:
    if code is None:
        check_text(text, TextLimits())
        return
    with pytest.raises(InputError) as info:
        check_text(text, TextLimits())
    assert info.value.code == code


# ---------------------------------------------------------------- --keep-manual


def test_json_lines_rows_without_the_manual_key_are_not_manual(tmp_path: Path, options: ReclassifyOptions) -> None:
    rows = make_rows(42)
    rows[7]["reviewed_by"] = "dana"
    rows[8]["reviewed_by"] = None
    rows[9]["reviewed_by"] = "model"
    src = write_rows(rows, tmp_path / "in.jsonl")
    report = reclassify(
        src, tmp_path / "out.jsonl", replace(options, columns=Columns(manual="reviewed_by")), engine_builder=make_engine
    )
    assert (report.manual, report.scored) == (1, 41)
    assert read_rows(tmp_path / "out.jsonl")[7]["reclassify_status"] == "manual"


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_a_manual_column_missing_from_a_columnar_file_fails_before_any_work(
    tmp_path: Path, options: ReclassifyOptions, ext: str
) -> None:
    src = write_rows(make_rows(5), tmp_path / f"in{ext}")
    with pytest.raises(InputError) as info:
        reclassify(src, tmp_path / f"out{ext}", replace(options, columns=Columns(manual="reviewed_by")),
                   engine_builder=make_engine)  # fmt: skip
    assert info.value.code == "missing_column" and "--keep-manual" in str(info.value)
    assert not (tmp_path / f"out{ext}.partial").exists()


# ---------------------------------------------------------------- backlog columns


@pytest.mark.parametrize("ext", [".jsonl", ".csv"])
def test_routing_columns_hold_what_a_backlog_plan_needs(tmp_path: Path, options: ReclassifyOptions, ext: str) -> None:
    rows = [
        {"id": "a", "text": "מצאתי זכוכית בסלט!!! עורך דין כבר בדרך", "channel": "whatsapp",
         "created_at": "2025-03-02T08:15:00+02:00"},
        {"id": "b", "text": "Cancel my subscription now", "channel": "facebook", "created_at": ""},
        {"id": "c", "text": "Follow me for free crypto", "channel": "instagram", "created_at": "2025-03-01T23:59:00Z"},
    ]  # fmt: skip
    src = write_rows(rows, tmp_path / f"in{ext}")
    out = tmp_path / f"out{ext}"
    reclassify(src, out, replace(options, columns=Columns(created_at="created_at")), engine_builder=make_routed_engine)
    got = read_rows(out)
    engine = make_routed_engine()
    names = ["queue", "priority", "rule", "sla_minutes", "first_response_due", "reply_mode", "actions", "needs_human",
             "reasons"]  # fmt: skip
    assert [n for n in got[0] if n in names] == names
    for row, result in zip(rows, got, strict=True):
        when = datetime.fromisoformat(row["created_at"]) if row["created_at"] else AT
        r = engine.triage(Post(text=row["text"], channel=row["channel"], created_at=when)).routing
        assert r is not None
        want = [r.queue, r.priority, r.rule, r.sla_minutes, r.first_response_due.astimezone(UTC).isoformat(),
                r.reply_mode, ",".join(r.actions), r.needs_human, list(r.reasons)]  # fmt: skip
        values = [result[n] for n in names]
        if ext == ".csv":  # text columns: numbers, booleans and the JSON list as text
            values[3], values[7], values[8] = int(values[3]), values[7] == "true", json.loads(values[8])
        assert values == want
        assert result["first_response_due"].endswith("+00:00")
    assert got[0]["actions"] and got[0]["reasons"]


# ---------------------------------------------------------------- the engine builder


def _load_engine_spy(calls: list[dict]) -> object:
    def load_engine(model_dir: Path | None = None, **kwargs: object) -> Engine:
        calls.append({"model_dir": model_dir, **kwargs})
        return make_engine()

    return load_engine


def test_the_default_builder_loads_the_model_without_replies_and_mutates_no_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict] = []
    monkeypatch.setattr("triage.loading.load_engine", _load_engine_spy(calls))
    engine = load_job_engine(EngineSpec(model_dir="m", brand="acme", threads=2))
    assert isinstance(engine, Engine)
    assert calls == [{"model_dir": Path("m"), "threads": 2, "brand": "acme", "replies": False}]
    batch_dir = Path(__file__).parents[2] / "batch"
    assert not any(".replier =" in p.read_text(encoding="utf-8") for p in batch_dir.glob("*.py"))


def test_load_engine_without_replies_routes_alike_and_builds_no_suggester() -> None:
    from tests.batch.fake_engine import _fake
    from triage.loading import load_engine

    full, lean = load_engine(classifier=_fake()), load_engine(classifier=_fake(), replies=False)
    assert full.replier is not None and lean.replier is None
    assert (lean.brands, lean.default_brand) == (full.brands, full.default_brand)
    for text in ("Cancel my subscription now", "מצאתי זכוכית בסלט!!! עורך דין כבר בדרך", "thanks"):
        post = Post(text=text, channel="whatsapp", created_at=AT)
        assert lean.triage(post).routing == full.triage(post).routing
    assert lean.triage(Post(text="thanks")).suggested_replies == []
    with pytest.raises(ConfigError) as info:
        load_engine(classifier=_fake(), brand="no-such-brand", replies=False)
    assert info.value.code == "unknown_brand"


def test_an_engine_builder_worker_processes_cannot_import_is_refused_before_any_work(
    tmp_path: Path, options: ReclassifyOptions
) -> None:
    src = write_rows(make_rows(20), tmp_path / "in.jsonl")
    with pytest.raises(ConfigError, match="top-level function"):
        reclassify(src, tmp_path / "o.jsonl", replace(options, workers=2), engine_builder=lambda spec: make_engine())
    assert not (tmp_path / "o.jsonl.partial").exists()
    # In this process any callable will do.
    report = reclassify(src, tmp_path / "o.jsonl", options, engine_builder=lambda spec: make_engine())
    assert report.scored == 20
    with pytest.raises(ConfigError, match="not an Engine"):
        reclassify(src, tmp_path / "x.jsonl", options, engine_builder=lambda spec: "engine")

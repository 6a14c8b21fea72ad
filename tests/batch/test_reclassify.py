"""``reclassify`` with the fake engine: formats, order, results, rejects, manual rows, dry run, resume."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch import Columns, ReclassifyOptions, reclassify
from batch.state import STATE_VERSION
from tests.batch.conftest import AT, make_rows, read_rows, write_rows
from tests.batch.fake_engine import make_engine, make_lenient_engine, make_routed_engine
from triage.errors import ConfigError, InputError
from triage.types import Post

HEADS = ("intent", "sentiment", "urgency")


@pytest.mark.parametrize("ext", [".jsonl", ".csv", ".parquet"])
def test_each_format_round_trips_in_order_with_results_equal_to_single_posts(
    tmp_path: Path, options: ReclassifyOptions, ext: str
) -> None:
    rows = make_rows(30)
    src = write_rows(rows, tmp_path / f"in{ext}")
    out = tmp_path / f"out{ext}"
    report = reclassify(src, out, options, engine_builder=make_engine)

    assert (report.rows, report.scored, report.rejected) == (30, 30, 0)
    got = read_rows(out)
    assert [r["id"] for r in got] == [r["id"] for r in rows]  # input order
    engine = make_engine()
    for row, result in zip(rows, got, strict=True):
        want = engine.triage(Post(text=row["text"], id=row["id"], created_at=AT))
        assert result["text"] == row["text"]
        assert str(result["score"]) == str(row["score"])  # carried through
        assert {h: result[h] for h in HEADS} == want.labels
        probs = result["p_intent"] if ext == ".jsonl" else json.loads(result["p_intent"])
        assert probs == want.heads["intent"].probabilities
        entities = result["entities"] if ext == ".jsonl" else json.loads(result["entities"])
        assert entities == [e.model_dump(mode="json") for e in want.entities]
        assert result["redacted_text"] == want.redacted_text
        assert result["language"] == want.language.language
        assert result["model_version"] == "fake-0"
        assert result["reclassified_at"] == AT.isoformat()
        assert result["reclassify_status"] == "ok" and result["reclassify_error"] is None
    assert "052-3456789" not in got[1]["redacted_text"]
    assert not out.with_name(out.name + ".partial").exists()
    assert out.with_name(out.name + ".rejects.jsonl").read_text() == ""


def test_output_columns_keep_input_order_and_types_and_replace_old_labels(tmp_path: Path,
                                                                          options: ReclassifyOptions) -> None:
    table = pa.table(
        {
            "when": pa.array([datetime(2024, 1, i + 1, tzinfo=UTC) for i in range(5)], pa.timestamp("ms", tz="UTC")),
            "intent": ["praise"] * 5,
            "text": [f"thanks a lot {i}" for i in range(5)],
            "tags": [["a", "b"], [], None, ["c"], ["d"]],
            "id": list(range(5)),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    reclassify(tmp_path / "in.parquet", tmp_path / "out.parquet", options, engine_builder=make_engine)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.names[:5] == ["when", "intent", "text", "tags", "id"]  # the old label column, in place
    assert out.schema.names[5:] == [
        "language", "sentiment", "urgency", "p_intent", "p_sentiment", "p_urgency", "entities", "redacted_text",
        "model_version", "reclassified_at", "reclassify_status", "reclassify_error",
    ]  # fmt: skip
    for name in ("when", "tags", "id"):
        assert out.column(name).equals(table.column(name))
    assert out.column("intent").to_pylist() == ["praise"] * 5


def test_csv_to_parquet_and_parquet_to_jsonl(tmp_path: Path, options: ReclassifyOptions) -> None:
    rows = make_rows(10)
    reclassify(write_rows(rows, tmp_path / "in.csv"), tmp_path / "out.parquet", options, engine_builder=make_engine)
    reclassify(write_rows(rows, tmp_path / "in.parquet"), tmp_path / "out.jsonl", options, engine_builder=make_engine)
    a, b = read_rows(tmp_path / "out.parquet"), read_rows(tmp_path / "out.jsonl")
    assert [r["intent"] for r in a] == [r["intent"] for r in b]
    with pytest.raises(InputError, match="JSON Lines rows have no fixed columns"):
        reclassify(write_rows(rows, tmp_path / "in.jsonl"), tmp_path / "x.parquet", options, engine_builder=make_engine)


def test_column_mapping_and_a_missing_column_fails_before_any_work(tmp_path: Path, options: ReclassifyOptions) -> None:
    rows = [{"post_id": r["id"], "body": r["text"]} for r in make_rows(8)]
    src = write_rows(rows, tmp_path / "in.parquet")
    mapped = replace(options, columns=Columns(id="post_id", text="body"))
    report = reclassify(src, tmp_path / "out.parquet", mapped, engine_builder=make_engine)
    assert report.scored == 8
    got = read_rows(tmp_path / "out.parquet")
    assert [r["post_id"] for r in got] == [r["post_id"] for r in rows]
    with pytest.raises(InputError) as info:
        reclassify(src, tmp_path / "out2.parquet", options, engine_builder=make_engine)
    assert info.value.code == "missing_column" and "--text-column" in str(info.value)
    assert not (tmp_path / "out2.parquet.partial").exists()


def test_bad_rows_go_to_the_rejects_file_and_stay_in_the_output(tmp_path: Path, options: ReclassifyOptions) -> None:
    good = json.dumps({"id": "ok1", "text": "thanks"}, ensure_ascii=False).encode()
    lines = [
        good,
        json.dumps({"id": "nt"}).encode(),  # missing text
        json.dumps({"id": "null", "text": None}).encode(),
        json.dumps({"id": "empty", "text": "   "}).encode(),
        json.dumps({"id": "long", "text": "x" * 5001}).encode(),
        b'{"id": "utf", "text": "caf\xc3 broken"}',  # broken UTF-8 bytes
        b'{"id": "json", "text": ',  # not JSON
        json.dumps({"id": "num", "text": 42}).encode(),
        json.dumps({"id": "chan", "text": "hi", "channel": "carrier-pigeon"}).encode(),
        json.dumps({"id": "ok2", "text": "Где мой заказ?", "channel": "WhatsApp"}).encode(),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n\n")  # a trailing blank line: skipped and reported
    out = tmp_path / "out.jsonl"
    report = reclassify(src, out, options, engine_builder=make_engine)

    assert (report.rows, report.scored, report.rejected, report.skipped) == (11, 2, 8, 1)
    rejects = [json.loads(x) for x in out.with_name("out.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [(r["row"], r["id"], r["code"]) for r in rejects] == [
        (1, "nt", "missing_text"),
        (2, "null", "missing_text"),
        (3, "empty", "empty_text"),
        (4, "long", "text_too_long"),
        (5, "utf", "invalid_utf8"),
        (6, None, "invalid_json"),
        (7, "num", "invalid_type"),
        (8, "chan", "invalid_channel"),
        (10, None, "blank_line"),
    ]
    assert all(r["reason"] for r in rejects)
    assert "x" * 50 not in out.with_name("out.jsonl.rejects.jsonl").read_text()  # no text in rejects
    got = read_rows(out)
    assert len(got) == 10
    assert [r["reclassify_status"] for r in got] == ["ok"] + ["rejected"] * 8 + ["ok"]
    assert got[1] == {"id": "nt", **{k: None for k in got[1] if k not in ("id", "reclassify_status",
                                                                          "reclassify_error")},
                      "reclassify_status": "rejected", "reclassify_error": "missing_text"}  # fmt: skip
    assert got[5]["id"] == "utf" and got[9]["language"] == "ru"
    assert report.rejects_by_code["missing_text"] == 2


def test_csv_broken_bytes_and_ragged_rows_are_rejected_per_row(tmp_path: Path, options: ReclassifyOptions) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(
        b"id,text,note\n"
        b"a,thanks,x\n"
        b"b,caf\xe9 latin-1,y\n"
        b"c,fine,\xff\n"
        b"d,too,many,fields\n"
        b'e,"multi\nline post",z\n'
    )
    out = tmp_path / "out.csv"
    report = reclassify(src, out, options, engine_builder=make_engine)
    rejects = [json.loads(x) for x in (tmp_path / "out.csv.rejects.jsonl").read_text().splitlines()]
    assert [(r["id"], r["code"], r["field"]) for r in rejects] == [
        ("b", "invalid_utf8", "text"),
        ("c", "invalid_utf8", "note"),
        ("d", "malformed_csv_row", None),
    ]
    got = read_rows(out)
    assert [r["id"] for r in got] == ["a", "b", "c", "d", "e"]
    assert got[1]["text"] == "caf\ufffd latin-1"  # the carried value shows where the bytes were broken
    assert got[4]["reclassify_status"] == "ok" and got[4]["text"] == "multi\nline post"
    assert report.scored == 2


def test_bidi_overrides_follow_the_engine_limits(tmp_path: Path, options: ReclassifyOptions) -> None:
    src = write_rows([{"id": "1", "text": "\u202eתודה\u202c רבה"}], tmp_path / "in.jsonl")
    report = reclassify(src, tmp_path / "a.jsonl", options, engine_builder=make_engine)
    assert report.rejects_by_code == {"bidi_control": 1}  # the default limits, as in the API
    lenient = reclassify(src, tmp_path / "b.jsonl", options, engine_builder=make_lenient_engine)
    assert lenient.scored == 1  # limits that allow them: stripped by normalisation


def test_keep_manual_rows_are_never_overwritten(tmp_path: Path, options: ReclassifyOptions) -> None:
    rows = make_rows(12)
    for i, row in enumerate(rows):
        row["label_source"] = ["human", "model", "", "dana", "0", "true"][i % 6]
        row["urgency"] = "critical"
    src = write_rows(rows, tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    report = reclassify(src, out, replace(options, columns=Columns(manual="label_source")), engine_builder=make_engine)
    got = read_rows(out)
    manual = {i for i, r in enumerate(rows) if r["label_source"] in ("human", "dana", "true")}
    assert report.manual == len(manual) == 6
    engine = make_engine()
    for i, (row, result) in enumerate(zip(rows, got, strict=True)):
        if i in manual:
            assert result["reclassify_status"] == "manual"
            assert (result["intent"], result["sentiment"], result["urgency"]) == (row["intent"], "neutral", "critical")
            assert result["model_version"] is None
        else:
            assert result["reclassify_status"] == "ok"
            assert result["intent"] == engine.triage(Post(text=row["text"])).labels["intent"]


def test_dry_run_counts_changes_with_examples_and_writes_nothing(tmp_path: Path, options: ReclassifyOptions) -> None:
    rows = make_rows(20)
    src = write_rows(rows, tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    before = sorted(p.name for p in tmp_path.iterdir())
    report = reclassify(src, out, replace(options, dry_run=True, examples=2), engine_builder=make_engine)
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    engine = make_engine()
    new = [engine.triage(Post(text=r["text"])).labels for r in rows]
    changed = sum(r["intent"] != n["intent"] for r, n in zip(rows, new, strict=True))
    assert report.dry_run and report.rows == 20
    assert report.heads["intent"].compared == 20 and report.heads["intent"].changed == changed > 0
    assert sum(report.heads["intent"].transitions.values()) == changed
    assert report.heads["sentiment"].changed == sum(n["sentiment"] != "neutral" for n in new)
    assert report.heads["urgency"].compared == 0  # no urgency column in the input
    examples = report.heads["intent"].examples
    assert len(examples) == 2 and examples[0]["old"] != examples[0]["new"]
    assert all("052-3456789" not in e["redacted_text"] for h in report.heads.values() for e in h.examples)


def test_a_rerun_after_success_gives_the_same_bytes_and_chunking_does_not_matter(
    tmp_path: Path, options: ReclassifyOptions
) -> None:
    src = write_rows(make_rows(25), tmp_path / "in.jsonl")
    reclassify(src, tmp_path / "a.jsonl", options, engine_builder=make_engine)
    first = (tmp_path / "a.jsonl").read_bytes()
    reclassify(src, tmp_path / "a.jsonl", options, engine_builder=make_engine)
    assert (tmp_path / "a.jsonl").read_bytes() == first
    reclassify(src, tmp_path / "b.jsonl", replace(options, chunk_size=100, batch_size=64), engine_builder=make_engine)
    assert (tmp_path / "b.jsonl").read_bytes() == first


def test_an_unfinished_job_for_another_input_is_refused_unless_restarted(tmp_path: Path,
                                                                         options: ReclassifyOptions) -> None:
    src = write_rows(make_rows(10), tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    work = tmp_path / "out.jsonl.partial"
    work.mkdir()
    (work / "state.json").write_text(
        json.dumps(
            {"version": STATE_VERSION, "fingerprint": {"path": "elsewhere"}, "options_hash": "x",
             "reclassified_at": "y",
             "chunks_done": 1, "rows_done": 7, "tally": {}}
        )
    )
    with pytest.raises(ConfigError, match="--restart"):
        reclassify(src, out, options, engine_builder=make_engine)
    report = reclassify(src, out, replace(options, restart=True), engine_builder=make_engine)
    assert report.rows == 10 and report.resumed_from_row == 0 and not work.exists()


def test_empty_input_gives_an_output_with_the_columns_and_no_rows(tmp_path: Path, options: ReclassifyOptions) -> None:
    (tmp_path / "in.csv").write_text("id,text\n", encoding="utf-8")
    report = reclassify(tmp_path / "in.csv", tmp_path / "out.csv", options, engine_builder=make_engine)
    assert report.rows == 0
    assert (tmp_path / "out.csv").read_text().startswith('"id","text","language","intent"')


def test_parquet_chunks_start_and_stop_anywhere_on_a_chunk_boundary(tmp_path: Path) -> None:
    from batch.columns import ROW
    from batch.ray_engine import _read_ranges
    from batch.readers import InputSource

    table = pa.Table.from_pylist(make_rows(95))
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=13)  # row groups across chunks
    source = InputSource(tmp_path / "in.parquet", "parquet", Columns(heads=HEADS), chunk_size=10)
    whole = [c.column(ROW).to_pylist() for c in source.chunks()]
    assert [len(c) for c in whole] == [10] * 9 + [5]
    assert [c.column(ROW).to_pylist() for c in source.chunks(30, 60)] == whole[3:6]
    assert [c.column("id").to_pylist() for c in source.chunks(90)] == [[f"p{i}" for i in range(90, 95)]]
    ranges = _read_ranges(source, 20, parallelism=3)
    assert ranges == [(20, 50), (50, 80), (80, 95)]
    rows = [r for lo, hi in ranges for c in source.chunks(lo, hi) for r in c.column(ROW).to_pylist()]
    assert rows == list(range(20, 95))


def test_routing_columns_come_with_an_engine_that_routes(tmp_path: Path, options: ReclassifyOptions) -> None:
    rows = [
        {"id": "a", "text": "מצאתי זכוכית בסלט!!! עורך דין כבר בדרך", "channel": "whatsapp"},
        {"id": "b", "text": "Cancel my subscription now", "channel": "facebook"},
        {"id": "c", "text": "thanks for the help", "channel": None},
    ]
    src = write_rows(rows, tmp_path / "in.jsonl")
    reclassify(src, tmp_path / "out.jsonl", options, engine_builder=make_routed_engine)
    got = read_rows(tmp_path / "out.jsonl")
    engine = make_routed_engine()
    for row, result in zip(rows, got, strict=True):
        want = engine.triage(Post(text=row["text"], channel=row["channel"] or "facebook", created_at=AT)).routing
        assert want is not None
        assert (result["queue"], result["priority"], result["reply_mode"], result["needs_human"]) == (
            want.queue, want.priority, want.reply_mode, want.needs_human,
        )  # fmt: skip
    assert got[0]["reply_mode"] == "private" and got[0]["needs_human"] is True


class _Crash(Exception):
    pass


class _CrashAfter:
    """A progress sink that stops the job (like a crash) after ``n`` chunks."""

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


@pytest.mark.parametrize("ext", [".jsonl", ".parquet"])
def test_an_interrupted_job_resumes_to_the_same_bytes(tmp_path: Path, options: ReclassifyOptions, ext: str) -> None:
    rows = make_rows(40)
    rows[3]["text"] = ""
    src = write_rows(rows, tmp_path / f"in{ext}")
    whole = tmp_path / f"whole{ext}"
    reclassify(src, whole, options, engine_builder=make_engine)
    out = tmp_path / f"out{ext}"
    with pytest.raises(_Crash):
        reclassify(src, out, options, progress=_CrashAfter(2), engine_builder=make_engine)
    assert not out.exists() and len(list((tmp_path / f"out{ext}.partial").glob("part-*"))) == 2
    with pytest.raises(ConfigError, match="reclassified_at"):
        reclassify(src, out, replace(options, reclassified_at=datetime(2030, 1, 1, tzinfo=UTC)),
                   engine_builder=make_engine)
    # the time comes from the state
    report = reclassify(src, out, replace(options, reclassified_at=None), engine_builder=make_engine)
    assert report.resumed_from_row == 14 and report.rows == 40 and report.rejected == 1
    assert out.read_bytes() == whole.read_bytes()

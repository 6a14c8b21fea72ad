"""The ``triage reclassify`` command: kill -9 and resume, worker processes, summary and dry run output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from batch import ReclassifyOptions, reclassify
from tests.batch.cli_app import app_with
from tests.batch.conftest import make_rows, write_rows
from tests.batch.fake_engine import make_engine
from triage_cli import _register, app

ROOT = Path(__file__).resolve().parents[2]
_register()
runner = CliRunner()


def _command(src: Path, out: Path, builder: str) -> list[str]:
    """``triage reclassify`` in a subprocess, with the fake engine ``builder`` of tests.batch.fake_engine."""
    return [
        sys.executable, "-m", "tests.batch.cli_app", builder, "reclassify", "--input", str(src), "--output", str(out),
        "--chunk-size", "50", "--batch-size", "32", "--workers", "1",
        "--reclassified-at", "2025-03-01T12:00:00+00:00", "--no-progress",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _chunks_done(work: Path) -> int:
    try:
        return int(json.loads((work / "state.json").read_text())["chunks_done"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_killed_job_resumes_and_writes_the_same_bytes_as_an_uninterrupted_run(tmp_path: Path) -> None:
    rows = make_rows(600)
    rows[70]["text"] = ""  # a reject before the kill
    rows[560]["text"] = "x" * 6000  # and one after
    src = write_rows(rows, tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    work = tmp_path / "out.csv.partial"
    proc = subprocess.Popen(_command(src, out, "make_slow_engine"), cwd=ROOT, env=_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _chunks_done(work) < 3:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the job wrote no parts"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads((work / "state.json").read_text())
    assert 3 <= state["chunks_done"] < 12
    assert not out.exists() and not (tmp_path / "out.csv.rejects.jsonl").exists()

    resumed = subprocess.run(_command(src, out, "make_engine"), cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at row {state['chunks_done'] * 50}" in resumed.stdout
    assert "rows: 600  scored: 598" in resumed.stdout  # the summary covers the whole job
    assert not work.exists()

    # The uninterrupted reference run, in this process: the same options as the command line.
    whole = tmp_path / "whole.csv"
    at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    reclassify(src, whole, ReclassifyOptions(chunk_size=50, batch_size=32, reclassified_at=at),
               engine_builder=make_engine)
    assert out.read_bytes() == whole.read_bytes()
    assert (tmp_path / "out.csv.rejects.jsonl").read_bytes() == (tmp_path / "whole.csv.rejects.jsonl").read_bytes()
    assert len((tmp_path / "out.csv.rejects.jsonl").read_text().splitlines()) == 2


def test_worker_processes_give_the_same_bytes_as_one_process(tmp_path: Path, options: ReclassifyOptions) -> None:
    src = write_rows(make_rows(60), tmp_path / "in.parquet")
    reclassify(src, tmp_path / "one.parquet", options, engine_builder=make_engine)
    two = replace(options, workers=2, chunk_size=10)
    report = reclassify(src, tmp_path / "two.parquet", two, engine_builder=make_engine)
    assert report.scored == 60
    reclassify(src, tmp_path / "one10.parquet", replace(options, chunk_size=10), engine_builder=make_engine)
    assert (tmp_path / "two.parquet").read_bytes() == (tmp_path / "one10.parquet").read_bytes()


def test_cli_prints_a_summary_and_dry_run_prints_json_and_writes_nothing(tmp_path: Path) -> None:
    src = write_rows(make_rows(15), tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    base = ["reclassify", "--input", str(src), "--workers", "1", "--no-progress"]
    fake = app_with(make_engine)
    result = runner.invoke(fake, [*base, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "rows: 15  scored: 15" in result.stdout and "rows/s" in result.stdout
    assert "intent:" in result.stdout and "labels changed" in result.stdout
    assert len(out.read_text().splitlines()) == 15

    dry = runner.invoke(fake, [*base, "--output", str(tmp_path / "dry.jsonl"), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["dry_run"] and report["heads"]["intent"]["compared"] == 15
    assert "would change" in dry.stderr
    assert not (tmp_path / "dry.jsonl").exists() and not (tmp_path / "dry.jsonl.partial").exists()


def test_cli_reports_bad_input_clearly(tmp_path: Path) -> None:
    args = ["reclassify", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv")]
    result = runner.invoke(app_with(make_engine), args)
    assert result.exit_code == 2 and "input_not_found" in result.stderr
    result = runner.invoke(app, ["reclassify", "--input", "x.csv", "--engine", "spark"])
    assert result.exit_code == 2

"""The replay benchmark runs end to end on a small stream (its numbers mean nothing at this size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stream_bench_smoke(tmp_path: Path) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.stream.run", "--posts", "4000", "--days", "4", "--warmup-hours", "24",
         "--batch", "500", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-4000:]
    assert elapsed < 20.0
    data = json.loads((tmp_path / "stream.json").read_text(encoding="utf-8"))
    assert data["synthetic"] is True
    assert data["stream"]["posts"] > 3000
    assert data["summary"]["issue_shapes"]["n"] >= 1
    assert data["speed"]["events_per_s"] > 0
    assert data["memory"]["peak_rss_mb"] > 0
    assert {t["name"] for t in data["targets"]} >= {"false incidents per brand per week"}
    assert "model" in data["machine"]["cpu"]
    text = (tmp_path / "stream.md").read_text(encoding="utf-8")
    assert "synthetic" in text.lower()

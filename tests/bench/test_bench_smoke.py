"""CI smoke runs of the benchmarks: every harness runs end to end on tiny inputs and a tiny random model.

These prove the plumbing (machine description, timing, FLOP accounting, weight recovery for the PyTorch
baseline, the HTTP load generator against the real server, the accuracy tables); their numbers mean
nothing. The real runs are ``python -m bench.speed.run`` and ``python -m bench.accuracy.run`` on a quiet
machine with the shipped model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import (
    RESULTS_DIR,
    CpuMonitor,
    RssSampler,
    Target,
    git_info,
    load_corpus_posts,
    machine_info,
    md_table,
    peak_rss_mb,
    results_dir,
    summarise_ms,
    time_calls,
    write_results,
)
from bench.speed.flops import Arch, flops_batches, flops_per_post

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "models" / "default"
CHILD_TIMEOUT_S = 600


def _require_train_stack() -> None:
    for module in ("torch", "transformers", "onnx", "sklearn"):
        pytest.importorskip(module, reason=f"the benchmark smoke runs need the train extra ({module})")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT multi-head model in the artifact format (built once per module)."""
    _require_train_stack()
    from bench.speed.torch_baseline import build_tiny_artifact

    texts, _ = load_corpus_posts()
    return build_tiny_artifact(tmp_path_factory.mktemp("tiny-model"), texts[:1000])


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S, env=env)
    assert done.returncode == 0, f"{module} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


# ------------------------------------------------------------------------------------------------ helpers


def test_machine_description_names_cpu_memory_and_versions() -> None:
    info = machine_info()
    assert info["cpu"]["model"] and info["logical_cpus"] >= 1
    assert info["memory_total_mb"] and info["python"]
    assert "onnxruntime" in info["libraries"] and "numpy" in info["libraries"]
    assert set(git_info()) == {"commit", "dirty", "changed_files"}


def test_latency_summary_and_time_bounded_loop() -> None:
    s = summarise_ms([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["p50"] == 3.0 and s["n"] == 5 and s["max"] == 100.0
    samples = time_calls(lambda i: None, seconds=0.01, max_calls=50, warmup=1, min_calls=5)
    assert 5 <= len(samples) <= 50


def test_memory_and_cpu_readers() -> None:
    assert (peak_rss_mb() or 0) > 1
    with RssSampler(os.getpid(), interval_s=0.01) as rss:
        rss.sample()
    assert rss.peak_mb > 1 and rss.report()["processes"] >= 1
    mon = CpuMonitor().start()
    assert "busy_pct" in mon.stop()


def test_targets_say_by_how_much_they_are_missed() -> None:
    over = Target.at_most("latency", 10, 15, "ms", why="too big")
    assert over.met is False and "5 ms over" in over.miss_by and over.why == "too big"
    ok = Target.at_least("throughput", 150, 200, "posts/s", why="unused")
    assert ok.met is True and ok.miss_by == "" and ok.why == ""
    assert Target.at_most("x", 1, None, "ms").met is None


def test_results_writer_and_smoke_never_writes_the_committed_results(tmp_path: Path) -> None:
    assert results_dir(True, None) != RESULTS_DIR
    json_path, md_path = write_results("x", {"a": 1, "t": Target.at_most("n", 1, 2, "")}, md_table(["a"], [[1]]),
                                       tmp_path)
    assert json.loads(json_path.read_text())["t"]["met"] is False
    assert md_path.read_text().startswith("| a |")


def test_flops_of_the_e5_small_encoder_match_the_issue() -> None:
    e5 = Arch(layers=12, hidden=384, intermediate=1536, heads=12)
    assert 1.0e9 < flops_per_post(e5, 25) < 1.1e9  # "about 1 GFLOP for a 25-token post"
    useful, executed = flops_batches(e5, [10, 20, 30, 40], 2, sort=True)
    assert executed > useful  # padding to the longest in each batch costs work


def test_how_the_dense_layers_compute_is_read_from_the_stored_graph() -> None:
    from bench.speed.flops import quantisation

    assert quantisation({"MatMul": 72}) == "fp32"
    assert quantisation({"DequantizeLinear": 72, "MatMul": 96}) == "int8 weights, fp32 compute"
    assert quantisation({"QuantizeLinear": 48, "DequantizeLinear": 120, "MatMul": 96}).startswith("int8 (static QDQ)")
    assert quantisation({"MatMulInteger": 72, "DynamicQuantizeLinear": 72}) == "int8"


def test_matmul_limit_is_measured() -> None:
    pytest.importorskip("onnx")
    from bench.speed.matmul import measure

    result = measure(threads=(1,), seconds=0.02, hidden=32, intermediate=64, tokens=8, batch_rows=64,
                     squares=((64, 64, 64),))
    assert result["limit_gflops"][1] > 0 and result["int8_gops"][1] > 0


# ------------------------------------------------------------------------------------------------ the runs


def test_torch_twin_reproduces_the_onnx_model(tiny_model: Path) -> None:
    from bench.speed.torch_baseline import torch_model_for

    texts, _ = load_corpus_posts()
    _, info = torch_model_for(tiny_model, texts[:16])
    assert info["verified"], info
    assert info["max_abs_logit_diff_vs_onnx"] < 1e-3


@pytest.mark.slow
def test_speed_benchmark_smoke(tiny_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the HTTP part needs the serve extra")
    _run("bench.speed.run", "--smoke", "--model", str(tiny_model), "--out", str(tmp_path))
    result = json.loads((tmp_path / "speed.json").read_text(encoding="utf-8"))
    assert result["smoke"] is True and result["machine"]["cpu"]["model"]
    assert result["matmul"]["limit_gflops"]
    assert result["in_process"][0]["engine_triage_ms"]["n"] >= 5
    outside = result["outside_model"]
    whole_p50 = result["in_process"][0]["engine_triage_ms"]["p50"]
    assert outside["posts"] > 0 and 0 < outside["batches_of_32_cpu_ms"] < whole_p50
    assert result["batch"] and "fraction_of_matmul_limit" in result["batch"][0]
    assert result["standard_way"]["torch"]["model"]["verified"]
    assert result["standard_way"]["ratios"]
    http = result["http"]["configs"][0]
    assert http["phases"]["idle"]["ok"] > 0 and http["memory"]["peak_tree_rss_mb"] > 0
    names = {t["name"] for t in result["targets"]}
    assert any("HTTP" in n for n in names) and any("matmul" in n for n in names)
    assert any("outside the model" in n for n in names)
    assert "## Targets" in (tmp_path / "speed.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_accuracy_benchmark_smoke(tiny_model: Path, tmp_path: Path) -> None:
    from bench.common import find_corpus_dir
    from bench.speed.torch_baseline import build_tiny_checkpoint

    if find_corpus_dir() is None:
        pytest.skip("no corpus (data/corpus or /tmp/corpus): the accuracy benchmark needs its test split")
    teacher = build_tiny_checkpoint(tmp_path / "teacher", tiny_model / "tokenizer.json")
    _run("bench.accuracy.run", "--smoke", "--model", str(tiny_model), "--teacher", str(teacher),
         "--compare", str(tiny_model), "--compare-label", "previous default", "--out", str(tmp_path / "out"))
    result = json.loads((tmp_path / "out" / "accuracy.json").read_text(encoding="utf-8"))
    corpus = result["corpus"]["models"]
    assert set(corpus) == {"shipped", "previous", "teacher", "tfidf"}
    intent = corpus["shipped"]["metrics"]["intent"]["all"]
    assert {"accuracy", "macro_f1", "ece", "per_class"} <= set(intent)
    assert corpus["shipped"]["automation"]["curve"]
    assert any(t["name"].startswith("distillation") and t["measured"] is not None for t in result["targets"])
    # The same model compared with itself: equal figures, so the written-split drop is measured and zero.
    drop = [b for b in result["bars"]["shipped"] if b["metric"] == "drop_points"]
    assert drop and all(b["measured"] == 0 for b in drop)
    md = (tmp_path / "out" / "accuracy.md").read_text(encoding="utf-8")
    assert "Machine: " in md and "avx512_vnni" in md and "previous default" in md
    if (ROOT.parent / "shared" / "datasets" / "he-sentiment-facebook").is_dir():
        assert "tfidf" in result["he_fb"]["models"]
    if (ROOT / "data" / "real" / "sample.jsonl").is_file() and (ROOT.parent / "shared" / "datasets").is_dir():
        real = result["real"]
        assert set(real["models"]) == {"shipped", "previous", "teacher", "tfidf"}
        assert set(real["n_by_language"]) <= {"he", "en"} and real["fingerprint"]
        assert {"he", "en"} & set(real["models"]["shipped"]["silent"])
        assert md.index("## Real posts") < md.index("## Written corpus test split")


def test_stored_results_stand_in_only_where_the_test_rows_match() -> None:
    from bench.accuracy.real import merge_stored
    from bench.common import Notes

    stored = {"real": {"fingerprint": "a", "models": {"shipped": {"model": {"old": 1}}}},
              "corpus": {"fingerprint": "b", "models": {"shipped": {"metrics": {"old": 2}}}}}
    results = {"real": {"fingerprint": "a", "models": {"shipped": {}}},
               "corpus": {"fingerprint": "other", "models": {"shipped": {}}}}
    notes = Notes()
    merge_stored(results, stored, "previous", notes)
    assert results["real"]["models"]["previous"] == {"model": {"old": 1}}
    assert "previous" not in results["corpus"]["models"]
    assert any("corpus" in n for n in notes.items)


@pytest.mark.slow
def test_reclassify_benchmark_smoke_and_resume(tiny_model: Path, tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    args = ("--smoke", "--model", str(tiny_model), "--out", str(out), "--work", str(work),
            "--modes", "local-1,local,baseline", "--memory-rows", "100", "--baseline-rows", "300")  # fmt: skip
    _run("bench.reclassify.run", *args)
    result = json.loads((out / "reclassify.json").read_text(encoding="utf-8"))
    assert result["complete"] is True
    assert [r["mode"] for r in result["runs"]] == ["local-1", "local", "baseline"]
    assert [r["rows"] for r in result["runs"]] == [600, 600, 300]
    assert all(r["rows_per_s"] > 0 for r in result["runs"])
    assert result["equality"]["local_bytes_equal_local-1"] is True
    assert result["equality"]["baseline_compared_on_rows"] == 100
    assert result["equality"]["baseline_rows_compared"] > 80
    assert result["equality"]["baseline_max_abs_probability_diff"] < 1e-3
    assert {(m["mode"], m["input_rows"]) for m in result["memory"]} == {
        ("local-1", 100), ("local-1", 600), ("baseline", 100), ("baseline", 300)}
    # A rerun with the same work folder measures nothing again: every run is kept from the first one.
    first = {r["mode"]: r["job_s"] for r in result["runs"]}
    done = _run("bench.reclassify.run", *args)
    assert done.stderr.count("kept from an earlier run") == 5, done.stderr[-2000:]
    again = json.loads((out / "reclassify.json").read_text(encoding="utf-8"))
    assert {r["mode"]: r["job_s"] for r in again["runs"]} == first


def test_shipped_model_shape_is_readable() -> None:
    if not (DEFAULT_MODEL / "manifest.json").is_file():
        pytest.skip(f"no shipped model in {DEFAULT_MODEL}: train and export it (`triage train`, `triage export`)")
    pytest.importorskip("onnx")
    from bench.speed.flops import arch_for_model, arch_from_onnx

    arch = arch_for_model(DEFAULT_MODEL)
    graph = arch_from_onnx(DEFAULT_MODEL / "model.onnx")
    assert arch.layers == graph.layers and arch.hidden == graph.hidden
    assert flops_per_post(arch, 25) > 0


def test_distillation_targets_judge_the_real_split_by_the_fast_default_rule() -> None:
    """On the real test split a student ships within 1.5 macro-F1 points of its teacher on every head."""
    from bench.accuracy.run import DISTILL_REAL_MAX_DROP_POINTS, accuracy_targets

    def model(f1: float) -> dict[str, object]:
        return {"model": {"intent": {"all": {"macro_f1": f1}}}}

    r = {"real": {"models": {"shipped": model(0.60), "teacher": model(0.62)}}}
    (target,) = accuracy_targets(r, [])
    assert target.name == "distillation: teacher − student macro-F1, intent (points, real test split)"
    assert DISTILL_REAL_MAX_DROP_POINTS == 1.5 and target.measured == 2.0 and target.met is False
    r = {"real": {"models": {"shipped": model(0.61), "teacher": model(0.62)}}}
    assert accuracy_targets(r, [])[0].met is True

"""Speed benchmark: latency, throughput, the standard PyTorch stack side by side, the hardware limit, memory.

``python -m bench.speed.run [--model models/default] [--seconds 10] [--smoke] [--out DIR]``

One command measures, on the same machine in the same run:

1. **hardware limit** — sustained fp32 (and int8) matrix-multiply FLOP/s at 1 and 2 threads
   (:mod:`bench.speed.matmul`), at the model's own shapes and at large squares;
2. **in-process latency** — ``Engine.triage`` on one post at a time (p50/p95/p99, with the per-stage
   breakdown the engine reports) and the classifier alone, at 1 and 2 inference threads;
3. **batch throughput** — posts/s over a few thousand corpus posts (their real length distribution),
   classifier alone (length-sorted batches, ``OnnxClassifier.predict``) and the whole engine
   (``Engine.triage_batch``: what ``triage reclassify`` runs), as 1 process × 1 or 2 threads and
   2 processes × 1 thread; each in a fresh process, with its peak RSS; plus ``bench/reclassify/run.py``
   when it exists;
4. **model FLOP/s** — FLOPs per post from the architecture and token counts
   (:mod:`bench.speed.flops`) over the time spent in ``session.run`` alone, as a fraction of (1);
5. **the standard way** — the same network in PyTorch, run pipeline-style one post at a time and in
   batches of 32 (:mod:`bench.speed.torch_baseline`), and the onnxruntime classifier in the same modes:
   the speed-up is measured, not remembered;
6. **HTTP** — ``POST /v1/triage`` on loopback, idle and at concurrency 8 and 16, for several server
   configurations, with the server's RSS (:mod:`bench.speed.http_load`);
7. **memory** — what each part of the engine adds to a process's RSS.

Results: ``bench/results/speed.json`` and ``speed.md`` (``--smoke``: a temporary folder, never
``bench/results``), with the machine description and a targets table (met? by how much? why?).

Run it on a quiet machine: every number here shares the CPU with whatever else is running; the
results record the load average and how busy the machine was during the run.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_MODEL_DIR,
    ROOT,
    SAMPLE_POSTS,
    CpuMonitor,
    Notes,
    Target,
    fmt,
    load_corpus_posts,
    log,
    machine_markdown,
    md_table,
    peak_rss_mb,
    results_dir,
    rss_mb,
    run_header,
    summarise_ms,
    targets_table,
    time_calls,
    timed_chunks,
    write_results,
)

WARM_UP_TEXTS = ("مرحبا، أين طلبي؟ رقم الطلب 12345", "Привет, где мой заказ? Номер 12345",
                 "Bonjour, où est ma commande ?")

# The fast-default issue's targets (2 CPU cores, shipped default model). The PyTorch ratio is against the loop
# running the teacher (--torch-checkpoint): what a team would run without this project's export.
TARGET_INPROC_P50_MS = 4.0
TARGET_HTTP_P50_MS = 6.0
TARGET_BATCH_POSTS_S = 500.0
TARGET_TORCH_RATIO = 4.0
TARGET_MATMUL_FRACTION = 0.85
TARGET_SERVER_RSS_MB = 300.0
TARGET_OUTSIDE_MODEL_MS = 0.3


# --------------------------------------------------------------------------------------------------
# Work done in fresh processes (spawned: no inherited threads, memory or imported torch)


def in_child(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a fresh spawned Python process and return its result."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def in_children(fn: Callable[..., Any], arg_sets: Sequence[tuple[Any, ...]], **kwargs: Any) -> list[Any]:
    """Run ``fn`` once per argument tuple, all at the same time, each in its own fresh process.

    Each call gets a shared ``barrier`` keyword so that timed work starts together after loading.
    """
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(len(arg_sets))
        with ProcessPoolExecutor(max_workers=len(arg_sets), mp_context=ctx) as pool:
            futures = [pool.submit(fn, *args, barrier=barrier, **kwargs) for args in arg_sets]
            return [f.result() for f in futures]


def _pad(ids: Sequence[Sequence[int]], pad_id: int) -> dict[str, Any]:
    """The inputs ``OnnxClassifier._run`` builds for one batch."""
    import numpy as np

    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def job_batch(
    model_dir: str,
    texts: Sequence[str],
    threads: int,
    mode: str,
    budget_s: float,
    arch: dict[str, Any] | None = None,
    barrier: Any = None,
) -> dict[str, Any]:
    """Throughput of one process: ``mode`` "classifier" (OnnxClassifier.predict) or "engine" (triage_batch).

    Classifier mode also times ``session.run`` alone on the same length-sorted batches, for model FLOP/s.
    """
    from triage.classify.onnx_model import OnnxClassifier
    from triage.loading import load_engine
    from triage.types import Post

    clf = OnnxClassifier(Path(model_dir), threads=threads)
    if mode == "engine":
        engine = load_engine(Path(model_dir), classifier=clf)
        engine.warm_up()
        engine.triage_batch([Post(text=t) for t in texts[:16]])
        chunk = 256

        def step(part: Sequence[str]) -> None:
            engine.triage_batch([Post(text=t) for t in part])
    else:
        clf.predict(list(texts[:64]))
        chunk = 1024

        def step(part: Sequence[str]) -> None:
            clf.predict(list(part))

    if barrier is not None:
        barrier.wait()
    wall0 = time.time()
    start = time.perf_counter()
    done = 0
    for i in range(0, len(texts), chunk):
        part = texts[i : i + chunk]
        step(part)
        done += len(part)
        if time.perf_counter() - start > budget_s:
            break
    elapsed = time.perf_counter() - start
    out: dict[str, Any] = {
        "mode": mode, "threads": threads, "posts": done, "seconds": round(elapsed, 3),
        "posts_per_s": round(done / elapsed, 2), "wall_start": wall0, "wall_end": time.time(),
    }
    if mode == "classifier" and arch is not None:
        from bench.speed.flops import Arch, flops_padded_batch, flops_per_post

        a = Arch(layers=int(arch["layers"]), hidden=int(arch["hidden"]), intermediate=int(arch["intermediate"]),
                 heads=int(arch["heads"]), vocab=arch.get("vocab"), head_labels=tuple(arch.get("head_labels", ())),
                 source=str(arch.get("source", "")))
        ids = clf.encode(list(texts[:done]))
        order = sorted(range(len(ids)), key=lambda j: len(ids[j]))
        batches = [[ids[j] for j in order[s : s + clf.batch_size]] for s in range(0, len(order), clf.batch_size)]
        inputs = [_pad(b, clf._pad_id) for b in batches]
        clf.session.run(clf._outputs, inputs[0])
        if barrier is not None:  # processes time their model compute together, as they ran together
            barrier.wait()
        t = time.perf_counter()
        for feed in inputs:
            clf.session.run(clf._outputs, feed)
        session_s = time.perf_counter() - t
        useful = sum(flops_per_post(a, len(x)) for x in ids)
        executed = sum(flops_padded_batch(a, [len(x) for x in b]) for b in batches)
        out.update({
            "session_seconds": round(session_s, 3),
            "session_share": round(session_s / elapsed, 3),
            "useful_gflop": round(useful / 1e9, 2),
            "executed_gflop": round(executed / 1e9, 2),
            "useful_gflops_per_s": round(useful / session_s / 1e9, 2),
            "executed_gflops_per_s": round(executed / session_s / 1e9, 2),
            "end_to_end_useful_gflops_per_s": round(useful / elapsed / 1e9, 2),
        })
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def job_ort_modes(model_dir: str, texts: Sequence[str], threads: int, seconds: float, max_posts: int,
                  batch_size: int = 32) -> dict[str, Any]:
    """The onnxruntime classifier in the torch baseline's modes (same posts, same order, same threads)."""
    from triage.classify.onnx_model import OnnxClassifier

    clf = OnnxClassifier(Path(model_dir), threads=threads)

    def step(chunk: Sequence[str]) -> None:
        clf.predict(list(chunk))

    return {
        "one_at_a_time": timed_chunks(step, texts, 1, seconds, max_posts),
        f"batched_{batch_size}_input_order": timed_chunks(step, texts, batch_size, seconds, max_posts * 4),
        "predict_1024_length_sorted": timed_chunks(step, texts, 1024, seconds, max_posts * 8),
        "peak_rss_mb": peak_rss_mb(),
    }


def job_torch(model_dir: str, texts: Sequence[str], threads: Sequence[int], seconds: float, max_posts: int,
              checkpoint: str | None, literal: bool) -> dict[str, Any]:
    """The standard PyTorch loop (imports torch only in this process)."""
    from bench.speed.torch_baseline import run_standard_way

    return run_standard_way(Path(model_dir), texts, threads=threads, seconds=seconds, max_posts=max_posts,
                            checkpoint=Path(checkpoint) if checkpoint else None, literal_pipeline=literal)


def job_memory(model_dir: str) -> dict[str, Any]:
    """RSS after each part of the engine is loaded and warmed, in a fresh process."""
    steps: list[tuple[str, float | None]] = [("interpreter", rss_mb())]
    from triage.loading import load_classifier, load_engine
    from triage.text.normalise import normalise
    from triage.types import Post

    steps.append(("import triage", rss_mb()))
    clf = load_classifier(Path(model_dir), threads=1)
    steps.append(("model loaded (onnxruntime session)", rss_mb()))
    clf.predict(list(SAMPLE_POSTS))
    steps.append(("model warm (first batches)", rss_mb()))
    engine = load_engine(Path(model_dir), classifier=clf)
    steps.append(("engine built (policies, reply libraries)", rss_mb()))
    for text in ("hello, where is my order?", "שלום, איפה ההזמנה שלי?", "مرحبا أين طلبي", "Привет, где мой заказ?"):
        engine.language_identifier.identify(text)
    steps.append(("language detector warm (he, en, ar, ru)", rss_mb()))
    for text, lang in (("order 12345 call 052-3456789", "en"), ("הזמנה 12345 טלפון 052-3456789", "he")):
        engine.entity_extractor.extract(normalise(text), lang)
    steps.append(("entity extractor warm (he, en)", rss_mb()))
    engine.warm_up()
    engine.triage_batch([Post(text=t) for t in SAMPLE_POSTS])
    steps.append(("full pipeline warm (routing, replies)", rss_mb()))
    rows, last = [], 0.0
    for name, value in steps:
        rows.append({"step": name, "rss_mb": value, "added_mb": round((value or 0.0) - last, 1)})
        last = value or last
    return {"steps": rows, "peak_rss_mb": peak_rss_mb()}


# --------------------------------------------------------------------------------------------------
# In-process latency (this process)


def inprocess_latency(model_dir: Path | None, texts: Sequence[str], threads: int, seconds: float,
                      max_calls: int) -> dict[str, Any]:
    """``Engine.triage`` one post at a time, with the stage breakdown; then the classifier alone."""
    from triage.loading import load_engine
    from triage.text.normalise import normalise
    from triage.types import Post

    if model_dir is None:
        from triage.classify.fake import FakeClassifier
        from triage.resources import default_schema_path
        from triage.schema import load_schema

        engine = load_engine(classifier=FakeClassifier(load_schema(default_schema_path())))
    else:
        engine = load_engine(model_dir, threads=threads)
    engine.warm_up()
    # Every language's detector model and every entity pattern is loaded lazily: load them all before timing.
    engine.triage_batch([Post(text=t) for t in (*SAMPLE_POSTS, *WARM_UP_TEXTS, *texts[:32])])
    posts = [Post(text=t) for t in texts]
    stages: dict[str, list[float]] = {}

    def one(i: int) -> None:
        result = engine.triage(posts[i % len(posts)])
        for k, v in result.timings_ms.items():
            stages.setdefault(k, []).append(v)

    samples = time_calls(one, seconds=seconds, max_calls=max_calls)
    for values in stages.values():
        del values[:3]  # the warm-up calls
    normed = [normalise(t).text for t in texts]
    clf = engine.classifier
    clf_samples = time_calls(lambda i: clf.predict([normed[i % len(normed)]]), seconds=seconds / 2,
                             max_calls=max_calls)
    out = {
        "threads": threads,
        "engine_triage_ms": summarise_ms(samples),
        "stages_ms": {k: summarise_ms(v) for k, v in stages.items()},
        "classifier_predict_one_ms": summarise_ms(clf_samples),
        "routing": engine.router is not None,
        "replies": engine.replier is not None,
    }
    return out


# --------------------------------------------------------------------------------------------------
# `triage reclassify` end to end, and the reclassify benchmark (another engineer's) when present


def run_reclassify_cli(model_dir: Path, texts: Sequence[str], workers: int, threads: int, tmp: Path,
                       timeout_s: float) -> dict[str, Any]:
    """``triage reclassify`` on a JSON Lines file of ``texts``: wall time, its own report, peak RSS of the job."""
    from bench.common import RssSampler

    folder = Path(tempfile.mkdtemp(prefix="reclassify-cli-", dir=tmp))
    source = folder / "posts.jsonl"
    with source.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"b{i}", "text": text, "channel": "facebook"}, ensure_ascii=False) + "\n")
    command = [sys.executable, "-m", "triage", "reclassify", "--input", str(source), "--output",
               str(folder / "out.jsonl"), "--model", str(model_dir), "--workers", str(workers), "--threads",
               str(threads), "--json", "--no-progress"]
    t = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssSampler(proc.pid) as rss:
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            return {"workers": workers, "threads": threads, "error": f"timed out after {timeout_s:.0f} s"}
    wall = time.perf_counter() - t
    out: dict[str, Any] = {"workers": workers, "threads": threads, "posts": len(texts), "returncode": proc.returncode,
                           "wall_s": round(wall, 2), "wall_posts_per_s": round(len(texts) / wall, 2),
                           "memory": rss.report()}
    try:
        report = json.loads(stdout)
        out.update({"report_rows_per_s": report.get("rows_per_s"), "report_elapsed_s": report.get("elapsed_s"),
                    "scored": report.get("scored"), "rejected": report.get("rejected")})
    except ValueError:
        out["error"] = (stderr or stdout)[-2000:]
    shutil.rmtree(folder, ignore_errors=True)
    return out


# The reclassify benchmark (another engineer's), when present


def run_reclassify_bench(model_dir: Path | None, smoke: bool, out_dir: Path, rows: int, timeout_s: float
                         ) -> dict[str, Any]:
    """Call ``python -m bench.reclassify.run`` (the reclassify engineer's benchmark) with the flags it accepts,
    sized for this run; keep its output and every ``rows_per_s`` figure of its results.
    """
    if not (ROOT / "bench" / "reclassify" / "run.py").is_file():
        return {"skipped": "bench/reclassify/run.py does not exist"}
    helptext = subprocess.run([sys.executable, "-m", "bench.reclassify.run", "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120).stdout
    command = [sys.executable, "-m", "bench.reclassify.run"]
    target = Path(tempfile.mkdtemp(prefix="reclassify-", dir=out_dir))
    wanted = {"--model": str(model_dir) if model_dir else None, "--out": str(target)}
    if smoke:
        wanted.update({"--smoke": "", "--rows": str(rows), "--memory-rows": str(rows), "--modes": "local-1"})
    else:  # its defaults (100k rows, four engines incl. Ray) take an hour on 2 cores: it has its own command
        wanted.update({"--rows": str(rows), "--memory-rows": str(max(500, rows // 5)),
                       "--modes": "baseline,local-1,local"})
    for flag, value in wanted.items():
        if value is not None and flag in helptext:
            command += [flag] if value == "" else [flag, value]
    t = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(command[1:]), "error": f"timed out after {timeout_s:.0f} s"}
    rates: dict[str, float] = {}

    def collect(obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            label = obj.get("mode") or obj.get("name")
            if isinstance(label, str):
                path = f"{path}({label})"
            for k, v in obj.items():
                if k.endswith("rows_per_s") and isinstance(v, int | float):
                    rates[f"{path}.{k}".lstrip(".")] = float(v)
                else:
                    collect(v, f"{path}.{k}")
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                collect(v, f"{path}[{i}]")

    files = sorted(target.rglob("*.json"))
    for path in files:
        try:
            collect(json.loads(path.read_text(encoding="utf-8")), path.stem)
        except (OSError, ValueError):
            continue
    return {"command": " ".join(command[1:]), "returncode": done.returncode,
            "seconds": round(time.perf_counter() - t, 1), "stderr_tail": done.stderr[-2000:],
            "results_files": [str(p) for p in files], "rows_per_s": rates}


# --------------------------------------------------------------------------------------------------
# The run


def _token_lengths(model_dir: Path, texts: Sequence[str]) -> list[int]:
    """Token count of each text exactly as the classifier sees it (prefix, truncation, special tokens)."""
    from tokenizers import Tokenizer

    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=int(manifest["max_length"]))
    prefix = manifest.get("query_prefix", "query: ")
    return [len(e.ids) for e in tok.encode_batch([prefix + t for t in texts])]


def _stats(values: Sequence[float]) -> dict[str, float]:
    s = summarise_ms(values)
    return {k: v for k, v in s.items() if k != "n"} | {"n": len(values)}


def _best(rows: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], float | None], lowest: bool = False
          ) -> dict[str, Any] | None:
    valid = [r for r in rows if key(r) is not None]
    if not valid:
        return None
    return (min if lowest else max)(valid, key=lambda r: key(r) or 0.0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    notes = Notes()

    def section(name: str, fn: Callable[[], Any], default: Any = None) -> Any:
        """Run one part; a failure is noted and the run goes on (smoke runs fail loudly instead)."""
        try:
            return fn()
        except Exception as exc:
            if args.smoke:
                raise
            notes.add(f"{name} failed: {type(exc).__name__}: {exc}")
            log(traceback.format_exc())
            return default

    smoke: bool = args.smoke
    seconds: float = args.seconds if args.seconds is not None else (0.3 if smoke else 10.0)
    threads: list[int] = args.threads or ([1] if smoke else [1, 2])
    out_dir = results_dir(smoke, args.out)
    tmp_root = Path(tempfile.mkdtemp(prefix="triage-bench-speed-"))
    monitor = CpuMonitor().start()

    # The model ------------------------------------------------------------------------------------------------
    model_dir: Path | None = args.model
    if model_dir is None and smoke:
        try:
            from bench.speed.torch_baseline import build_tiny_artifact

            texts_for_tok, _ = load_corpus_posts(args.corpus)
            model_dir = build_tiny_artifact(tmp_root / "tiny-model", texts_for_tok[:2000])
            notes.add(f"smoke: a tiny random model was built in {model_dir} (its numbers mean nothing)")
        except ImportError as exc:
            notes.add(f"smoke: cannot build a tiny model ({exc}); model parts are skipped, the engine uses "
                      "FakeClassifier")
    elif model_dir is None:
        model_dir = DEFAULT_MODEL_DIR
    if model_dir is not None and not (Path(model_dir) / "manifest.json").is_file():
        raise SystemExit(f"error: no model at {model_dir} (no manifest.json). Train and export one "
                         "(`triage train`, `triage export`) or pass --model DIR.")
    header = run_header("speed", smoke=smoke, model_dir=model_dir)
    if not smoke and header["machine"]["load_average"][0] > 0.3:
        notes.add(f"the machine was not quiet at the start (1-min load average {header['machine']['load_average'][0]}):"
                  " every number below is contaminated by other work")

    # The posts ------------------------------------------------------------------------------------------------
    texts, source = load_corpus_posts(args.corpus)
    rng = random.Random(1234)
    rng.shuffle(texts)
    n_batch = 200 if smoke else args.posts
    batch_texts = [texts[i % len(texts)] for i in range(n_batch)]
    latency_texts = texts[: min(len(texts), 50 if smoke else 2000)]
    results: dict[str, Any] = {**header, "settings": {"seconds": seconds, "threads": threads,
                                                      "batch_posts": n_batch, "posts_source": source}}
    log(f"posts: {source}; model: {model_dir}")

    arch = None
    if model_dir is not None:
        from bench.speed.flops import (
            QUANTISED_OPS,
            arch_for_model,
            arch_from_onnx,
            computes_int8,
            flops_batches,
            flops_per_post,
            graph_ops,
            quantisation,
        )

        arch = arch_for_model(model_dir)
        ops = graph_ops(model_dir / "model.onnx")
        quantised = sorted(set(ops) & QUANTISED_OPS)
        try:
            graph_arch = arch_from_onnx(model_dir / "model.onnx")
            if (graph_arch.layers, graph_arch.hidden) != (arch.layers, arch.hidden):
                notes.add(f"the manifest's architecture ({arch.layers} layers, hidden {arch.hidden}) differs from the "
                          f"ONNX graph's ({graph_arch.layers} layers, hidden {graph_arch.hidden})")
        except Exception as exc:  # an unusual graph: the manifest's numbers stand
            notes.add(f"could not read the architecture from the ONNX graph: {exc}")
        lengths = _token_lengths(model_dir, texts)
        useful_sorted, executed_sorted = flops_batches(arch, lengths, 32, sort=True)
        useful_input, executed_input = flops_batches(arch, lengths, 32, sort=False)
        mean_flops = useful_sorted / len(lengths)
        results["model_shape"] = {
            "arch": arch.to_dict(),
            "onnx_ops": ops,
            "quantised_int8": computes_int8(ops),
            "quantised_ops": quantised,
            "compute": quantisation(ops),
            "tokens_per_post": _stats(lengths),
            "gflop_per_post_mean": round(mean_flops / 1e9, 4),
            "gflop_at_p50_tokens": round(flops_per_post(arch, int(_median(lengths))) / 1e9, 4),
            "padding_overhead_length_sorted_32": round(executed_sorted / useful_sorted - 1, 4),
            "padding_overhead_input_order_32": round(executed_input / useful_input - 1, 4),
        }
        log(f"model: {arch.layers} layers, hidden {arch.hidden}; {mean_flops / 1e9:.3f} GFLOP/post on average; "
            f"dense layers: {quantisation(ops)}")

    # 1. Hardware limit ----------------------------------------------------------------------------------------
    def hardware() -> dict[str, Any]:
        from bench.speed.matmul import measure

        p50_tokens = int(results["model_shape"]["tokens_per_post"]["p50"]) if arch else 25
        return measure(threads=threads, seconds=0.05 if smoke else args.matmul_seconds,
                       hidden=arch.hidden if arch else 384, intermediate=arch.intermediate if arch else 1536,
                       tokens=p50_tokens, batch_rows=32 * p50_tokens,
                       squares=((256, 256, 256),) if smoke else ((1024, 1024, 1024), (2048, 2048, 2048)), log=log)

    limit: dict[int, float] = {}
    if not args.no_matmul:
        results["matmul"] = section("matmul", hardware)
        if results["matmul"]:
            limit = {int(k): float(v) for k, v in results["matmul"]["limit_gflops"].items()}

    # 2. In-process latency ------------------------------------------------------------------------------------
    inproc = []
    for t in threads:
        log(f"in-process latency, {t} thread(s)")
        row = section(f"in-process latency ({t} threads)", functools.partial(
            inprocess_latency, model_dir, latency_texts, t, seconds, 200 if smoke else 20000))
        if row:
            inproc.append(row)
    results["in_process"] = inproc
    if model_dir is not None:
        from bench.speed.outside import engine_outside_model

        log("the engine outside the model (CPU time per post)")
        results["outside_model"] = section("outside the model", functools.partial(
            engine_outside_model, model_dir, latency_texts[: 100 if smoke else 600], 2 if smoke else 5))

    # 3 + 4. Batch throughput and model FLOP/s -----------------------------------------------------------------
    def batch_config(mode: str, procs: int, t: int) -> dict[str, Any]:
        budget = max(1.0, seconds) if smoke else max(2 * seconds, 5.0)
        arch_d = arch.to_dict() if arch else None
        if procs == 1:
            parts = [in_child(job_batch, str(model_dir), batch_texts, t, mode, budget, arch_d)]
        else:
            parts = in_children(job_batch, [(str(model_dir), batch_texts[i::procs], t, mode, budget, arch_d)
                                            for i in range(procs)])
        wall = max(p["wall_end"] for p in parts) - min(p["wall_start"] for p in parts)
        row: dict[str, Any] = {
            "mode": mode, "processes": procs, "threads": t, "posts": sum(p["posts"] for p in parts),
            "seconds": round(wall, 3), "posts_per_s": round(sum(p["posts"] for p in parts) / wall, 2),
            "peak_rss_mb_per_process": [p["peak_rss_mb"] for p in parts],
        }
        if mode == "classifier" and arch is not None:
            session_s = max(p["session_seconds"] for p in parts)
            useful = sum(p["useful_gflop"] for p in parts)
            executed = sum(p["executed_gflop"] for p in parts)
            row.update({
                "session_share": round(sum(p["session_share"] for p in parts) / len(parts), 3),
                "useful_gflops_per_s": round(useful / session_s, 2),
                "executed_gflops_per_s": round(executed / session_s, 2),
            })
            lim = limit.get(procs * t) or limit.get(t, 0.0) * procs
            if lim:
                row["fraction_of_matmul_limit"] = round(row["useful_gflops_per_s"] / lim, 3)
                row["executed_fraction_of_matmul_limit"] = round(row["executed_gflops_per_s"] / lim, 3)
                row["matmul_limit_gflops"] = lim
            int8 = {int(k): float(v) for k, v in ((results.get("matmul") or {}).get("int8_gops") or {}).items()}
            lim8 = int8.get(procs * t) or int8.get(t, 0.0) * procs
            if lim8 and results.get("model_shape", {}).get("quantised_int8"):
                row["fraction_of_int8_limit"] = round(row["useful_gflops_per_s"] / lim8, 3)
                row["int8_limit_gops"] = lim8
        return row

    batch: list[dict[str, Any]] = []
    reclassify_cli: list[dict[str, Any]] = []
    if model_dir is not None:
        configs = [(1, 1)] if smoke else [(1, t) for t in threads] + ([(2, 1)] if 2 in threads else [])
        # Smoke: the engine mode loads every language model again in a fresh process (slow); skip it.
        for mode in ("classifier",) if smoke else ("classifier", "engine"):
            for procs, t in configs:
                log(f"batch throughput: {mode}, {procs} process(es) × {t} thread(s)")
                row = section(f"batch {mode} {procs}x{t}", functools.partial(batch_config, mode, procs, t))
                if row:
                    batch.append(row)
        has_reclassify_bench = (ROOT / "bench" / "reclassify" / "run.py").is_file()
        if not smoke and not has_reclassify_bench:  # fallback: time the command ourselves
            for workers, t in [(1, max(threads)), (2, 1)] if 2 in threads else [(1, 1)]:
                log(f"triage reclassify: {workers} worker(s) × {t} thread(s), {len(batch_texts)} posts")
                row = section(f"triage reclassify {workers}x{t}", functools.partial(
                    run_reclassify_cli, model_dir, batch_texts, workers, t, tmp_root, 1800.0))
                if row:
                    reclassify_cli.append(row)
    results["batch"] = batch
    results["reclassify_cli"] = reclassify_cli
    if smoke:
        results["reclassify"] = {"skipped": "smoke run: bench/reclassify has its own smoke test"}
    elif model_dir is not None and not args.no_reclassify:
        results["reclassify"] = section("bench/reclassify", lambda: run_reclassify_bench(
            model_dir, smoke, tmp_root, args.posts, 2400.0))

    # 5. The standard way --------------------------------------------------------------------------------------
    def standard_way() -> dict[str, Any]:
        torch_texts = texts[: min(len(texts), 64 if smoke else 2000)]
        max_posts = 64 if smoke else 2000
        out: dict[str, Any] = {}
        log("standard PyTorch loop (in a fresh process)")
        out["torch"] = section("PyTorch baseline", lambda: in_child(
            job_torch, str(model_dir), torch_texts, threads, seconds, max_posts,
            str(args.torch_checkpoint) if args.torch_checkpoint else None, not args.no_literal_pipeline))
        out["onnxruntime"] = {}
        for t in threads:
            log(f"onnxruntime in the baseline's modes, {t} thread(s)")
            out["onnxruntime"][str(t)] = in_child(job_ort_modes, str(model_dir), torch_texts, t, seconds, max_posts)
        out["ratios"] = _ratios(out)
        return out

    results["standard_way"] = (section("standard way", standard_way, {})
                               if model_dir is not None and not args.no_torch else {})

    # 6. HTTP ---------------------------------------------------------------------------------------------------
    def http_part() -> dict[str, Any]:
        from bench.speed.http_load import DEFAULT_CONFIGS, ServerConfig, run_all

        configs_http = ([ServerConfig.parse(c) for c in args.http_config] if args.http_config
                        else [ServerConfig(1, 1)] if smoke else list(DEFAULT_CONFIGS))
        out = run_all(latency_texts, model_dir=model_dir, seconds=0.5 if smoke else seconds, configs=configs_http,
                      concurrencies=(1, 4) if smoke else (1, 8, 16), max_requests=100 if smoke else 20000)
        if smoke and any("error" in c for c in out["configs"]):
            raise RuntimeError(f"the server failed in the smoke run: {out['notes']}")
        for n in out.get("notes", []):
            notes.add(f"http: {n}")
        return out

    results["http"] = section("http", http_part, {}) if model_dir is not None and not args.no_http else {}

    # 7. Memory ------------------------------------------------------------------------------------------------
    if model_dir is not None and not smoke:
        log("memory breakdown (in a fresh process)")
        results["memory"] = section("memory breakdown", lambda: in_child(job_memory, str(model_dir)))
    elif smoke:
        notes.add("smoke: the memory breakdown is skipped (it loads every language model: slow)")

    results["machine_during_run"] = monitor.stop()
    results["machine_during_run"]["load_average_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    results["targets"] = speed_targets(results, limit)
    results["notes"] = notes.items
    json_path, md_path = write_results("speed", results, speed_markdown(results), out_dir)
    shutil.rmtree(tmp_root, ignore_errors=True)
    log(f"wrote {json_path} and {md_path}")
    return results


def _median(lengths: Sequence[int]) -> float:
    ordered = sorted(lengths)
    return float(ordered[len(ordered) // 2]) if ordered else 0.0


def _ratios(standard: dict[str, Any]) -> dict[str, Any]:
    """onnxruntime posts/s ÷ PyTorch posts/s for each matching mode and thread count."""
    torch_modes = (standard.get("torch") or {}).get("modes") or {}
    out: dict[str, Any] = {}
    for t, ort_modes in standard.get("onnxruntime", {}).items():
        tm = torch_modes.get(t) or {}
        pairs = {
            "one_at_a_time": ("one_at_a_time", "one_at_a_time"),
            "batched_32_input_order": ("batched_32_input_order", "batched_32_input_order"),
            "ours_product_batching_vs_torch_batched_32": ("predict_1024_length_sorted", "batched_32_input_order"),
            "ours_one_at_a_time_vs_literal_pipeline": ("one_at_a_time", "transformers_pipeline_one_at_a_time"),
        }
        row = {}
        for name, (ours, theirs) in pairs.items():
            if ours in ort_modes and theirs in tm:
                row[name] = round(ort_modes[ours]["posts_per_s"] / tm[theirs]["posts_per_s"], 2)
        out[t] = row
    return out


# --------------------------------------------------------------------------------------------------
# Targets and the report


def speed_targets(r: dict[str, Any], limit: dict[int, float]) -> list[Target]:
    """The issue's speed targets, each with the measured value and, when missed, by how much and why."""
    shape = r.get("model_shape") or {}
    mean_gflop = shape.get("gflop_per_post_mean")
    p50_gflop = shape.get("gflop_at_p50_tokens")
    best_limit = max(limit.values()) if limit else None
    out: list[Target] = []

    # in-process latency
    best = _best(r.get("in_process", []), lambda x: x["engine_triage_ms"].get("p50"), lowest=True)
    if best:
        p50 = best["engine_triage_ms"]["p50"]
        classify = (best["stages_ms"].get("classify") or {}).get("p50")
        other = {k: v.get("p50") for k, v in best["stages_ms"].items() if k != "classify"}
        slowest = max(other.items(), key=lambda kv: kv[1] or 0.0) if other else ("—", None)
        why = f"classify p50 {fmt(classify, 1)} ms; slowest other stage: {slowest[0]} {fmt(slowest[1], 1)} ms"
        if p50_gflop and limit.get(best["threads"]):
            floor = p50_gflop / limit[best["threads"]] * 1000.0
            why += (f"; compute floor for a median post at this machine's measured GEMM limit: {floor:.1f} ms"
                    + (" — the model itself is too big for the target" if floor > TARGET_INPROC_P50_MS else ""))
        out.append(Target.at_most("single post in-process p50 (Engine.triage)", TARGET_INPROC_P50_MS, p50, "ms",
                                  why=why, config=f"{best['threads']} inference thread(s)"))
    outside = r.get("outside_model")
    if outside:
        out.append(Target.at_most("engine outside the model, per post (CPU time, batches of 32)",
                                  TARGET_OUTSIDE_MODEL_MS, outside["batches_of_32_cpu_ms"], "ms",
                                  why=f"one post at a time: {outside['one_at_a_time_cpu_ms']} ms; the stage p50s "
                                      "below say where it goes (measured inside the model loop, with colder caches)",
                                  config=f"{outside['posts']} posts of the run, recorded model outputs"))
    # HTTP idle
    http_rows = [c for c in (r.get("http") or {}).get("configs", []) if "phases" in c]
    best_http = _best(http_rows, lambda c: c["phases"]["idle"]["latency_ms"].get("p50"), lowest=True)
    if best_http:
        p50 = best_http["phases"]["idle"]["latency_ms"]["p50"]
        inproc = best["engine_triage_ms"]["p50"] if best else None
        why = (f"in-process p50 is {fmt(inproc, 1)} ms; HTTP + serving add {fmt(p50 - inproc, 1)} ms"
               if inproc is not None else "")
        out.append(Target.at_most("HTTP POST /v1/triage p50, idle", TARGET_HTTP_P50_MS, p50, "ms", why=why,
                                  config=best_http["name"]))
    else:
        out.append(Target.at_most("HTTP POST /v1/triage p50, idle", TARGET_HTTP_P50_MS, None, "ms",
                                  why="the HTTP benchmark did not run"))
    # batch throughput
    engine_rows = [b for b in r.get("batch", []) if b["mode"] == "engine"]
    best_batch = _best(engine_rows, lambda b: b["posts_per_s"])
    if best_batch:
        clf_rows = [b for b in r.get("batch", []) if b["mode"] == "classifier"]
        best_clf = _best(clf_rows, lambda b: b["posts_per_s"])
        why = f"classifier alone: {fmt(best_clf['posts_per_s'], 0)} posts/s" if best_clf else ""
        cli = _best([c for c in r.get("reclassify_cli", []) if c.get("wall_posts_per_s")],
                    lambda c: c["wall_posts_per_s"])
        if cli:
            why += (f"; `triage reclassify` end to end (start-up included, {cli['posts']} posts): "
                    f"{fmt(cli['wall_posts_per_s'], 0)} posts/s")
        rec_rates = (r.get("reclassify") or {}).get("rows_per_s") or {}
        if rec_rates:
            name, value = max(rec_rates.items(), key=lambda kv: kv[1])
            why += f"; bench/reclassify best: {value:.0f} rows/s ({name})"
        if mean_gflop and best_limit:
            ceiling = best_limit / mean_gflop
            why += (f"; compute ceiling at the measured GEMM limit: {ceiling:.0f} posts/s"
                    + (" — the model itself is too big for the target" if ceiling < TARGET_BATCH_POSTS_S else ""))
        out.append(Target.at_least("batch throughput (whole engine, triage_batch)", TARGET_BATCH_POSTS_S,
                                   best_batch["posts_per_s"], "posts/s", why=why,
                                   config=f"{best_batch['processes']} process(es) × {best_batch['threads']} thread(s)"))
    # vs the standard way
    std = r.get("standard_way") or {}
    torch_modes = ((std.get("torch") or {}).get("modes")) or {}
    if torch_modes and std.get("onnxruntime"):
        def best_posts(modes: dict[str, Any], names: Sequence[str]) -> tuple[float, str]:
            cands = [(m[n]["posts_per_s"], f"{t} thread(s), {n}") for t, m in modes.items() for n in names if n in m]
            return max(cands) if cands else (0.0, "")

        ours_b, ours_cfg = best_posts(std["onnxruntime"], ["predict_1024_length_sorted", "batched_32_input_order"])
        theirs_b, theirs_cfg = best_posts(torch_modes, ["batched_32_input_order", "batched_32_length_sorted",
                                                        "transformers_pipeline_batch_32"])
        ours_1, _ = best_posts(std["onnxruntime"], ["one_at_a_time"])
        theirs_1, theirs_1_cfg = best_posts(torch_modes, ["one_at_a_time", "transformers_pipeline_one_at_a_time"])
        # The loop may run a bigger network than ours (the teacher): its work per post scales with its layers.
        ours_layers = (shape.get("arch") or {}).get("layers")
        torch_layers = (std.get("torch") or {}).get("model", {}).get("layers") or ours_layers
        torch_gflop = (mean_gflop or 0.0) * (torch_layers / ours_layers if torch_layers and ours_layers else 1.0)
        torch_gflops = theirs_b * torch_gflop
        why = (f"the PyTorch loop runs {torch_layers} layers at {torch_gflops:.0f} GFLOP/s = "
               f"{torch_gflops / best_limit:.0%} of the measured fp32 GEMM limit"
               if torch_gflop and best_limit and torch_gflops else "")
        if why and best_limit and torch_layers == ours_layers and not shape.get("quantised_int8"):
            why += f", so no fp32 runtime can be more than {best_limit / torch_gflops:.2f}× faster"
        if theirs_b:
            out.append(Target.at_least("speed-up over the PyTorch loop, batched (best vs best)", TARGET_TORCH_RATIO,
                                       round(ours_b / theirs_b, 2), "×", why=why,
                                       config=f"ours: {ours_cfg}; torch: {theirs_cfg}"))
        if theirs_1:
            floor_ms = (p50_gflop or 0.0) / best_limit * 1000.0 if best_limit else 0.0
            why_1 = (f"PyTorch {1000.0 / theirs_1:.1f} ms/post vs ours {1000.0 / ours_1:.1f} ms/post; the matmuls of a "
                     f"median post need ≥ {floor_ms:.1f} ms at the measured GEMM limit, so per-call overhead is all "
                     "that is left to win")
            out.append(Target.at_least("speed-up over the PyTorch loop, one post at a time (best vs best)",
                                       TARGET_TORCH_RATIO, round(ours_1 / theirs_1, 2), "×", why=why_1,
                                       config=f"torch: {theirs_1_cfg}"))
    # fraction of the matmul limit
    clf_rows = [b for b in r.get("batch", []) if "fraction_of_matmul_limit" in b]
    best_frac = _best(clf_rows, lambda b: b["fraction_of_matmul_limit"])
    if best_frac and shape.get("quantised_int8") and "fraction_of_int8_limit" in best_frac:
        out.append(Target.at_least(
            "model compute as a share of the measured int8 matmul limit (the shipped model is int8)",
            TARGET_MATMUL_FRACTION * 100, round(best_frac["fraction_of_int8_limit"] * 100, 1), "%",
            why=(("static QDQ: every quantised MatMul's input is quantised and its output dequantised around "
                  "QLinearMatMul, and the FFN output projections, attention and the non-GEMM ops stay fp32")
                 if (shape.get("compute") or "").startswith("int8 (static") else
                 "dynamic quantisation re-quantises every activation (DynamicQuantizeLinear) and dequantises every "
                 "output; non-GEMM ops stay fp32"),
            config=f"{best_frac['processes']} process(es) × {best_frac['threads']} thread(s), "
                   f"{best_frac['useful_gflops_per_s']} of {best_frac['int8_limit_gops']} GOP/s"))
    if best_frac:
        why = (f"padding adds {shape.get('padding_overhead_length_sorted_32', 0):.0%} executed work; "
               f"session.run is {best_frac['session_share']:.0%} of the end-to-end time; small per-post matrices "
               f"(T≈{fmt(shape.get('tokens_per_post', {}).get('p50'), 0)} rows) and non-GEMM ops (layer norm, GELU, "
               "softmax, attention) run below GEMM peak")
        if shape.get("quantised_int8"):
            why = "the model is int8, so this fp32 share can exceed 100 %; see the int8 row. " + why
        out.append(Target.at_least("model compute as a share of the measured fp32 matmul limit",
                                   TARGET_MATMUL_FRACTION * 100, round(best_frac["fraction_of_matmul_limit"] * 100, 1),
                                   "%", why=why,
                                   config=f"{best_frac['processes']} process(es) × {best_frac['threads']} thread(s), "
                                          f"{best_frac['useful_gflops_per_s']} of {best_frac['matmul_limit_gflops']} "
                                          "GFLOP/s"))
    # server RSS
    one_worker = [c for c in http_rows if c["config"]["workers"] == 1]
    best_rss = _best(one_worker or http_rows, lambda c: c["memory"]["peak_tree_rss_mb"], lowest=True)
    if best_rss:
        mem = (r.get("memory") or {}).get("steps", [])
        big = sorted(mem, key=lambda s: -(s["added_mb"] or 0))[:3]
        why = "largest parts: " + ", ".join(f"{s['step']} +{s['added_mb']:.0f} MB" for s in big)
        out.append(Target.at_most("server peak RSS (process tree)", TARGET_SERVER_RSS_MB,
                                  best_rss["memory"]["peak_tree_rss_mb"], "MB", why=why, config=best_rss["name"]))
    return out


def speed_markdown(r: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [f"# Speed benchmark{' (SMOKE RUN: tiny inputs, numbers mean nothing)' if r['smoke'] else ''}", ""]
    lines += [machine_markdown(r), ""]
    during = r.get("machine_during_run") or {}
    lines += [f"Machine CPU busy during the run: {during.get('busy_pct')} % (steal {during.get('steal_pct')} %), "
              f"load average at the end {during.get('load_average_end')}. Posts: {r['settings']['posts_source']}.", ""]
    lines += ["## Targets", "", targets_table(r["targets"]), ""]
    shape = r.get("model_shape")
    if shape:
        a = shape["arch"]
        tok = shape["tokens_per_post"]
        lines += ["## Model", "", md_table(["", ""], [
            ["architecture", f"{a['layers']} layers, hidden {a['hidden']}, FFN {a['intermediate']}, "
                             f"vocabulary {a['vocab']} (from the {a['source']})"],
            ["dense layers compute in", shape.get("compute", "fp32")
             + (f" ({', '.join(shape['quantised_ops'])})" if shape.get("quantised_ops") else "")],
            ["tokens per post", f"mean {tok['mean']}, p50 {tok['p50']}, p95 {tok['p95']}, max {tok['max']}"],
            ["GFLOP per post", f"mean {shape['gflop_per_post_mean']}, at p50 tokens {shape['gflop_at_p50_tokens']}"],
            ["padding overhead, batches of 32", f"length-sorted {shape['padding_overhead_length_sorted_32']:.1%}, "
                                                f"input order {shape['padding_overhead_input_order_32']:.1%}"],
        ]), ""]
    mm = r.get("matmul")
    if mm:
        lines += ["## Hardware limit: sustained matrix multiply", "",
                  md_table(["threads", "fp32 limit GFLOP/s", "best at model shapes", "best at one-post rows",
                            "int8 GOP/s (MatMulInteger)"],
                           [[t, mm["limit_gflops"][t], mm["model_shape_gflops"][t], mm["single_post_gflops"][t],
                             mm["int8_gops"].get(t)] for t in mm["limit_gflops"]]), "",
                  "<details><summary>every shape</summary>", "",
                  md_table(["backend", "dtype", "m×k×n", "threads", "GFLOP/s sustained", "best call"],
                           [[x["backend"], x["dtype"], f"{x['m']}×{x['k']}×{x['n']}", x["threads"], x["gflops"],
                             x["best_call_gflops"]] for x in mm["rows"]]), "", "</details>", ""]
    if r.get("in_process"):
        rows = []
        for x in r["in_process"]:
            e, c = x["engine_triage_ms"], x["classifier_predict_one_ms"]
            stages = ", ".join(f"{k} {v.get('p50')}" for k, v in x["stages_ms"].items())
            rows.append([x["threads"], e.get("p50"), e.get("p95"), e.get("p99"), e.get("n"), c.get("p50"),
                         c.get("p95"), stages])
        lines += ["## Single post, in process", "",
                  md_table(["threads", "Engine.triage p50 ms", "p95", "p99", "n", "classifier p50 ms", "p95",
                            "stage p50s (ms)"], rows), ""]
    if r.get("batch"):
        lines += ["## Batch throughput", "", md_table(
            ["mode", "processes × threads", "posts", "posts/s", "peak RSS MB / process", "session.run share",
             "useful GFLOP/s", "executed GFLOP/s", "share of fp32 matmul limit", "share of int8 limit"],
            [[b["mode"], f"{b['processes']} × {b['threads']}", b["posts"], b["posts_per_s"],
              ", ".join(fmt(x, 0) for x in b["peak_rss_mb_per_process"]), b.get("session_share"),
              b.get("useful_gflops_per_s"), b.get("executed_gflops_per_s"),
              f"{b['fraction_of_matmul_limit']:.1%}" if "fraction_of_matmul_limit" in b else None,
              f"{b['fraction_of_int8_limit']:.1%}" if "fraction_of_int8_limit" in b else None]
             for b in r["batch"]]), ""]
    if r.get("reclassify_cli"):
        lines += ["### `triage reclassify`, end to end (one command, start-up included)", "", md_table(
            ["workers × threads", "posts", "wall s", "posts/s (wall)", "posts/s (its report)", "peak RSS MB (job)",
             "processes"],
            [[f"{c['workers']} × {c['threads']}", c.get("posts"), c.get("wall_s"), c.get("wall_posts_per_s"),
              c.get("report_rows_per_s"), (c.get("memory") or {}).get("peak_tree_rss_mb"),
              (c.get("memory") or {}).get("processes")] for c in r["reclassify_cli"]]), ""]
    rec = r.get("reclassify") or {}
    if rec:
        lines += ["### `triage reclassify` (bench/reclassify, called from this run)", ""]
        if rec.get("skipped") or rec.get("error"):
            lines += [str(rec.get("skipped") or rec.get("error")), ""]
        else:
            lines += [f"`{rec.get('command')}` → exit {rec.get('returncode')} in {rec.get('seconds')} s.", "",
                      md_table(["figure", "rows/s"], sorted(rec.get("rows_per_s", {}).items())), ""]
    std = r.get("standard_way") or {}
    if std.get("torch"):
        tinfo = std["torch"]
        rows = []
        for t, modes in tinfo["modes"].items():
            for name, m in modes.items():
                rows.append(["PyTorch", t, name, m["posts_per_s"], m["call_ms"].get("p50"), m["call_ms"].get("p95")])
        for t, modes in std.get("onnxruntime", {}).items():
            for name, m in modes.items():
                if isinstance(m, dict):
                    rows.append(["onnxruntime (ours)", t, name, m["posts_per_s"], m["call_ms"].get("p50"),
                                 m["call_ms"].get("p95")])
        torch_layers, ours = tinfo["model"].get("layers"), ((r.get("model_shape") or {}).get("arch") or {})
        other = bool(torch_layers and ours.get("layers") and torch_layers != ours["layers"])
        lines += ["## The standard way: " + ("the teacher in PyTorch" if other else "the same model in PyTorch"), "",
                  f"Torch model: {tinfo['model'].get('source')}"
                  + (f", {torch_layers} layers against the shipped model's {ours['layers']}: the network the "
                     "shipped one was distilled from, as a team without this project's export would run it"
                     if other else "")
                  + f" (max |Δlogit| vs onnxruntime: {tinfo['model'].get('max_abs_logit_diff_vs_onnx')}); "
                  f"torch {tinfo['torch']}, "
                  f"CPU capability {tinfo['cpu_capability']}, peak RSS {tinfo.get('peak_rss_mb')} MB.", "",
                  md_table(["stack", "threads", "mode", "posts/s", "call p50 ms", "call p95 ms"], rows), "",
                  "Speed-up (onnxruntime posts/s ÷ PyTorch posts/s):", "",
                  md_table(["threads", *sorted({k for v in std["ratios"].values() for k in v})],
                           [[t, *[v.get(k) for k in sorted({k for v in std["ratios"].values() for k in v})]]
                            for t, v in std["ratios"].items()]), ""]
    http = r.get("http") or {}
    if http.get("configs"):
        rows = []
        for c in http["configs"]:
            if "phases" not in c:
                rows.append([c["name"], "failed to start", None, None, None, None, None, None])
                continue
            for phase, p in c["phases"].items():
                lat = p["latency_ms"]
                rows.append([c["name"], phase, p["requests_per_s"], lat.get("p50"), lat.get("p95"), lat.get("p99"),
                             sum(p["errors"].values()), c["memory"]["peak_tree_rss_mb"]])
        lines += ["## HTTP on loopback (`POST /v1/triage`)", "",
                  f"Launcher: `{next((c.get('launcher') for c in http['configs'] if c.get('launcher')), '—')}`. "
                  "The load generator runs on the same cores as the server.", "",
                  md_table(["server", "load", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                            "server peak RSS MB"], rows), ""]
    mem = r.get("memory")
    if mem:
        lines += ["## Memory: what each part adds (fresh process)", "",
                  md_table(["step", "RSS MB", "added MB"], [[s["step"], s["rss_mb"], s["added_mb"]]
                                                             for s in mem["steps"]]), ""]
    if r.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in r["notes"]], ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.run", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: models/default)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per timed phase (default 10; smoke 0.3)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny inputs and a tiny random model (unless --model); results go to a temp folder")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: bench/results)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: data/corpus, /tmp/corpus)")
    parser.add_argument("--posts", type=int, default=3000, help="posts in the batch-throughput set (default 3000)")
    parser.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts (default 1 2)")
    parser.add_argument("--matmul-seconds", type=float, default=2.0, help="timed seconds per GEMM shape")
    parser.add_argument("--torch-checkpoint", type=Path, default=None,
                        help="training checkpoint of the shipped model, for the PyTorch baseline")
    parser.add_argument("--http-config", action="append", default=None, help="WORKERSxTHREADS[+mb], repeatable")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-matmul", action="store_true")
    parser.add_argument("--no-reclassify", action="store_true", help="do not call bench/reclassify/run.py")
    parser.add_argument("--no-literal-pipeline", action="store_true",
                        help="skip transformers.pipeline() rows of the PyTorch baseline")
    args = parser.parse_args(argv)
    results = run(args)
    for t in results["targets"]:
        status = {True: "met", False: f"MISSED by {t.miss_by}", None: "not measured"}[t.met]
        print(f"{t.name}: {fmt(t.measured)} {t.unit} (target {t.target}) -> {status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

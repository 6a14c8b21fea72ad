"""Reclassify benchmark: rows/s and peak memory of ``triage reclassify`` beside a single-process baseline.

``python -m bench.reclassify.run [--model models/default] [--rows 100000] [--memory-rows 20000]
[--baseline-rows N] [--work DIR] [--smoke] [--out DIR]``

``--work DIR`` keeps inputs, outputs and every finished measurement: after an interruption the same
command measures only what is missing.

One command:

1. builds a realistic Parquet file of ``--rows`` posts from the project's corpus texts
   (``data/corpus/*.jsonl``, else ``data/raw/*.jsonl``; never ../shared), sampled with replacement and
   varied (order numbers, phones, e-mails, mentions, emojis, floods, typos, case, joined posts, a few
   very long ones) plus a few bad rows (empty, oversized) and the usual carried columns (channel, time,
   author, likes, old labels, a manual-label flag);
2. runs, each in a fresh process with the summed RSS of its process tree sampled every 0.1 s:

   * ``baseline`` — the single-process way: read the whole file, ``Engine.triage_batch`` over all good
     rows at once, write the result table;
   * ``local-1`` — ``reclassify`` with the local engine in one process (streaming, checkpointed);
   * ``local`` — the local engine with one worker process per CPU (the command's default);
   * ``ray`` — ``--engine ray`` on a local Ray started for the run (its start is timed apart);

3. checks that every engine wrote the same bytes (local-1 = local = ray) and the same labels as the
   baseline, and measures memory flatness: the peak RSS of the ``--memory-modes`` (default ``local-1``
   and ``baseline``) at ``--memory-rows`` and at ``--rows`` (``--baseline-rows`` for the baseline);
4. writes ``bench/results/reclassify.json`` and ``reclassify.md`` with the machine description.

With no trained model (no ``models/default/manifest.json``) pass ``--tiny-model`` (a random ONNX model
with the real shapes, built with the ``train`` extra) or ``--engine-factory`` (e.g. the tests' fake); the
results then say so at the top. ``--smoke`` runs tiny sizes and writes to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_MODEL_DIR,
    ROOT,
    CpuMonitor,
    Notes,
    RssSampler,
    log,
    machine_markdown,
    md_table,
    results_dir,
    run_header,
    write_results,
)

AT = "2025-06-01T00:00:00+00:00"  # fixed reclassified_at: every engine's output can be compared byte for byte
MODES = ("local-1", "local", "ray", "baseline")
CHANNELS = ("facebook", "instagram", "twitter", "whatsapp", "messenger", "review", "web")
EMOJIS = ("🙏", "😡", "😂", "👏", "🔥", "💔", "🤬", "❤️", "🙄", "😭")
HEADS = ("intent", "sentiment", "urgency")


# ------------------------------------------------------------------------------------------------ data


def corpus_records() -> tuple[list[dict[str, Any]], str]:
    """Labeled posts of the project's corpus (all splits), else its raw batches."""
    for folder in (ROOT / "data" / "corpus", ROOT / "data" / "raw"):
        files = sorted(folder.glob("*.jsonl"))
        records = []
        for path in files:
            with open(path, encoding="utf-8") as f:
                records += [json.loads(line) for line in f if line.strip()]
        records = [r for r in records if isinstance(r.get("text"), str) and r["text"].strip()]
        if records:
            return records, f"{folder.relative_to(ROOT)} ({len(records)} posts from {len(files)} files)"
    raise SystemExit("error: no corpus texts in data/corpus or data/raw (run `triage data build`)")


def _vary(text: str, rng: random.Random, pool: list[dict[str, Any]]) -> str:
    """A realistic variant of a post: the same meaning with the noise real posts carry."""
    if rng.random() < 0.08:
        text = text + " " + rng.choice(pool)["text"]  # two posts in one
    if rng.random() < 0.25:
        text += rng.choice((f" הזמנה {rng.randint(1000000, 9999999)}", f" order #{rng.randint(100000, 9999999)}",
                            f" מספר פנייה {rng.randint(10000, 999999)}"))  # fmt: skip
    if rng.random() < 0.08:
        text += f" 05{rng.randint(0, 8)}-{rng.randint(1000000, 9999999)}"
    if rng.random() < 0.04:
        text += f" {rng.choice(('dana', 'yossi', 'mike', 'noa'))}{rng.randint(1, 99)}@gmail.com"
    if rng.random() < 0.1:
        text = f"@{rng.choice(('cellcom', 'partner', 'elal', 'shufersal', 'support'))} " + text
    if rng.random() < 0.2:
        text += " " + rng.choice(EMOJIS) * rng.randint(1, 4)
    if rng.random() < 0.08:
        text += "!" * rng.randint(3, 9)
    if rng.random() < 0.08 and len(text) > 10:
        i = rng.randrange(len(text) - 2)
        text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]  # a typo
    if rng.random() < 0.05:
        text = text.upper() if rng.random() < 0.5 else text.lower()
    if rng.random() < 0.01:
        text = " ".join([text] * rng.randint(4, 10))[:4900]  # a long rant
    return text


def build_input(path: Path, rows: int, seed: int = 13) -> dict[str, Any]:
    """Write ``rows`` varied corpus posts to a Parquet file, in row groups, without holding them all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    records, source = corpus_records()
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    group = 10000
    writer = None
    bad = 0
    try:
        for lo in range(0, rows, group):
            batch: list[dict[str, Any]] = []
            for i in range(lo, min(rows, lo + group)):
                rec = rng.choice(records)
                text = _vary(rec["text"], rng, records)
                roll = rng.random()
                if roll < 0.0005:
                    text, bad = "   ", bad + 1
                elif roll < 0.001:
                    text, bad = "x" * 6000, bad + 1
                batch.append({
                    "id": f"post-{i:07d}",
                    "text": text,
                    "channel": rec.get("channel") or rng.choice(CHANNELS),
                    "created_at": start + timedelta(seconds=rng.randint(0, 180 * 86400)),
                    "author": f"user{rng.randint(1, 50000)}",
                    "likes": rng.randint(0, 500),
                    "intent": rec.get("intent"),
                    "sentiment": rec.get("sentiment"),
                    "urgency": rec.get("urgency"),
                    "label_source": "human" if rng.random() < 0.03 else "model",
                })  # fmt: skip
            table = pa.Table.from_pylist(batch)
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema)
            writer.write_table(table, row_group_size=group)
    finally:
        if writer is not None:
            writer.close()
    return {"path": str(path), "rows": rows, "bad_rows": bad, "source": source, "seed": seed,
            "mb": round(path.stat().st_size / 2**20, 1)}  # fmt: skip


# ------------------------------------------------------------------------------------------------ children


def _spec(args: argparse.Namespace) -> Any:
    from batch import EngineSpec

    return EngineSpec(model_dir=str(args.model) if args.model else None)


def _builder(args: argparse.Namespace) -> Any:
    """``--engine-factory package.module:function`` as an engine builder (``function(spec) -> Engine``)."""
    if not args.engine_factory:
        return None
    import importlib

    module, _, name = args.engine_factory.partition(":")
    if not module or not name:
        raise SystemExit(f"error: --engine-factory {args.engine_factory!r} must look like 'package.module:function'")
    return getattr(importlib.import_module(module), name)


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measured run, in its own process; returns what only the run itself can time."""
    t0 = time.perf_counter()
    if args.mode == "baseline":
        return _baseline(args, t0)
    from batch import Columns, ReclassifyOptions, reclassify

    cpus = len(os.sched_getaffinity(0))
    out: dict[str, Any] = {}
    options = ReclassifyOptions(
        engine_spec=_spec(args),
        reclassified_at=datetime.fromisoformat(AT),
        workers=1 if args.mode == "local-1" else cpus,
        engine="ray" if args.mode == "ray" else "local",
        chunk_size=args.chunk_size,
        columns=Columns(manual="label_source"),
    )
    if args.mode == "ray":
        import logging

        import ray

        t = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        out["ray_init_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    report = reclassify(Path(args.input), Path(args.output), options, engine_builder=_builder(args))
    job_s = time.perf_counter() - t
    if args.mode == "ray":
        import ray

        ray.shutdown()
    out.update({
        "rows": report.rows, "scored": report.scored, "manual": report.manual, "rejected": report.rejected,
        "job_s": round(job_s, 2), "rows_per_s": round(report.rows / job_s, 1),
        "total_s": round(time.perf_counter() - t0, 2), "changed": report.changed, "workers": options.workers,
        "model_version": report.model_version,
    })  # fmt: skip
    return out


def _baseline(args: argparse.Namespace, t0: float) -> dict[str, Any]:
    """The single-process way: the whole file in memory, one ``triage_batch`` call, one table out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from batch.results import flatten
    from batch.spec import build_engine
    from triage.errors import InputError
    from triage.types import Post

    engine = build_engine(_spec(args), _builder(args))
    heads = tuple(h.name for h in engine.classifier.schema.public_heads)
    t = time.perf_counter()
    rows = pq.read_table(args.input).to_pylist()
    at = datetime.fromisoformat(AT)
    posts, keep = [], []
    for i, row in enumerate(rows):
        post = Post(text=row["text"], id=row["id"], channel=row["channel"], created_at=at)
        try:
            engine.check(post)  # the job's own validation
        except InputError:
            continue
        posts.append(post)
        keep.append(i)
    results = engine.triage_batch(posts)
    flat = [{"id": rows[i]["id"], **flatten(r, heads, engine.router is not None, AT)}
            for i, r in zip(keep, results, strict=True)]
    pq.write_table(pa.Table.from_pylist(flat), args.output)
    job_s = time.perf_counter() - t
    return {"rows": len(rows), "scored": len(posts), "job_s": round(job_s, 2),
            "rows_per_s": round(len(rows) / job_s, 1),
            "total_s": round(time.perf_counter() - t0, 2), "model_version": engine.classifier.version}  # fmt: skip


def measure(mode: str, src: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one mode in a fresh process, sampling its process tree's memory and the machine's CPU use."""
    command = [sys.executable, "-m", "bench.reclassify.run", "_child", "--mode", mode, "--input", str(src),
               "--output", str(out), "--chunk-size", str(args.chunk_size)]  # fmt: skip
    if args.model:
        command += ["--model", str(args.model)]
    if args.engine_factory:
        command += ["--engine-factory", args.engine_factory]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    load_before = os.getloadavg()[0]
    cpu = CpuMonitor().start()
    t = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssSampler(proc.pid) as sampler:
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed ({proc.returncode}):\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    mem = sampler.report()
    return {"mode": mode, "input_rows": result["rows"], **result, "wall_s": round(wall, 2),
            "peak_tree_rss_mb": mem["peak_tree_rss_mb"], "processes": mem["processes"],
            "largest_process_peak_mb": (mem["per_process_peak_mb"] or [None])[0],
            "cpu": cpu.stop(), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2)}  # fmt: skip


# ------------------------------------------------------------------------------------------------ comparison


def _labels(path: Path, only_scored: bool) -> dict[str, tuple[Any, ...]]:
    """id -> labels and probabilities; ``only_scored``: rows the job scored (not manual, not rejected)."""
    import pyarrow.parquet as pq

    cols = ["id", *HEADS, *(f"p_{h}" for h in HEADS)]
    table = pq.read_table(path, columns=cols + (["reclassify_status"] if only_scored else []))
    return {r["id"]: tuple(r[c] for c in cols[1:]) for r in table.to_pylist()
            if not only_scored or r["reclassify_status"] == "ok"}  # fmt: skip


def _prob_diff(a: tuple[Any, ...], b: tuple[Any, ...]) -> float:
    """Largest absolute difference between two rows' probability columns (dicts or JSON text)."""
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        x = json.loads(x) if isinstance(x, str) else x
        y = json.loads(y) if isinstance(y, str) else y
        if isinstance(x, dict) and isinstance(y, dict):
            worst = max([worst, *(abs(float(x[k]) - float(y.get(k, 0.0))) for k in x)])
        elif x != y:
            return float("inf")
    return worst


def compare(outputs: dict[tuple[str, int], Path], rows: int, baseline_rows: int) -> dict[str, Any]:
    """Engines against the first of local-1 / local on the same file: bytes for the others, labels for the baseline."""
    out: dict[str, Any] = {}
    ref_mode = next((m for m in ("local-1", "local") if (m, rows) in outputs), None)
    if ref_mode:
        ref = outputs[(ref_mode, rows)]
        for mode in ("local", "ray"):
            if mode != ref_mode and (mode, rows) in outputs:
                out[f"{mode}_bytes_equal_{ref_mode}"] = outputs[(mode, rows)].read_bytes() == ref.read_bytes()
    # The baseline is compared on a file a streaming engine also ran: its own size if possible, else the memory file.
    shared = [(n, e) for (m, n) in outputs if m == "baseline" for e in ("local-1", "local") if (e, n) in outputs]
    if shared:
        n, engine = max(shared, key=lambda t: (t[0] == baseline_rows, t[0], t[1] == "local-1"))
        ref = outputs[(engine, n)]
        out["baseline_compared_with"] = f"{engine}, {n:,} rows"
        out["baseline_compared_on_rows"] = n
        out["baseline_compared_on_rows"] = n
        # Different batches mean different padding, so probabilities may differ in the last printed digit;
        # labels must not (beyond a near-tie flipping), so they are counted apart from the probabilities.
        base = _labels(outputs[("baseline", n)], only_scored=False)
        streamed = _labels(ref, only_scored=True)
        scored = {k: v for k, v in streamed.items() if k in base}
        h = len(HEADS)  # each row: the labels, then the probability columns
        label_differ = [k for k, v in scored.items() if base[k][:h] != v[:h]]
        prob_diff = max((_prob_diff(base[k][h:], v[h:]) for k, v in scored.items()), default=0.0)
        out["baseline_rows_compared"] = len(scored)
        out["baseline_rows_with_a_different_label"] = len(label_differ)
        out["baseline_differing_examples"] = label_differ[:5]
        out["baseline_max_abs_probability_diff"] = round(prob_diff, 6)
    return out


# ------------------------------------------------------------------------------------------------ report


# The fast-default issue's target: `triage reclassify` on 100,000 rows, 2 cores.
TARGET_ROWS_PER_S = 400.0


def target_line(runs: list[dict[str, Any]]) -> str:
    """Whether the best `triage reclassify` mode (not the baseline) reaches the target, and on how many rows."""
    ours = [r for r in runs if r["mode"] != "baseline"]
    if not ours:
        return f"Target: `triage reclassify` >= {TARGET_ROWS_PER_S:.0f} rows/s: not measured in this run."
    best = max(ours, key=lambda r: r["rows_per_s"])
    verdict = "met" if best["rows_per_s"] >= TARGET_ROWS_PER_S else "**not met**"
    return (f"Target: `triage reclassify` >= {TARGET_ROWS_PER_S:.0f} rows/s on 100,000 rows: best mode "
            f"`{best['mode']}` {best['rows_per_s']} rows/s on {best['input_rows']:,} rows: {verdict}.")


def markdown(data: dict[str, Any]) -> str:
    runs = data["runs"]
    lines = ["# Reclassify benchmark", ""]
    if not data.get("complete", True):
        lines += ["> **Incomplete: the benchmark is still running (or was stopped); rows below are the runs done so "
                  "far.**", ""]
    if data.get("warning"):
        lines += [f"> **{data['warning']}**", ""]
    lines += [
        f"Input: {data['input']['rows']:,} rows ({data['input']['mb']} MiB Parquet, {data['input']['bad_rows']} bad "
        "rows), "
        f"built from {data['input']['source']} with seed {data['input']['seed']}. Chunk size {data['chunk_size']}.",
        "",
    ]
    if data.get("baseline_rows", data["input"]["rows"]) != data["input"]["rows"]:
        lines += [f"The baseline ran on its own {data['baseline_rows']:,}-row file from the same generator "
                  "(it holds the whole file in memory and is the slowest mode).", ""]  # fmt: skip
    lines += [
        "## Throughput and memory",
        "",
        md_table(
            ["mode", "rows", "rows/s (job)", "job s", "wall s (process)", "Ray start s", "peak RSS, process tree (MiB)",
             "processes", "machine busy %", "load avg before → after"],
            [[r["mode"], r["input_rows"], r["rows_per_s"], r["job_s"], r["wall_s"], r.get("ray_init_s"),
              r["peak_tree_rss_mb"], r["processes"], r["cpu"].get("busy_pct"),
              f"{r['load_before']} → {r['load_after']}"]
             for r in runs],
        ),
        "",
        "- **baseline**: one process, whole file in memory, one `Engine.triage_batch` call over every good row.",
        "- **local-1**: `triage reclassify` (local engine) in one process: streaming, checkpointed, atomic.",
        "- **local**: the local engine with one scoring process per CPU (the command's default).",
        "- **ray**: `--engine ray`, a local Ray started for the run (start time in its own column, not in the job).",
        "",
        target_line(runs),
        "",
        "## Memory flatness",
        "",
        md_table(["mode", "rows", "peak RSS (MiB)"], [[m["mode"], m["input_rows"], m["peak_tree_rss_mb"]]
                                                      for m in data["memory"]]),
        "",
        data.get("memory_verdict", ""),
        "",
        "## Equality",
        "",
        md_table(["check", "result"], [[k, v] for k, v in data["equality"].items()]),
        "",
    ]
    if data["notes"]:
        lines += ["## Notes", "", *[f"- {n}" for n in data["notes"]], ""]
    lines += ["## Machine", "", machine_markdown(data["header"]), ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    notes = Notes()
    if args.smoke:
        args.rows = min(args.rows, 600)
        args.memory_rows = min(args.memory_rows, 200)
        args.chunk_size = min(args.chunk_size, 100)
    out_dir = results_dir(args.smoke, args.out)
    work = args.work or Path(tempfile.mkdtemp(prefix="triage-bench-reclassify-"))
    work.mkdir(parents=True, exist_ok=True)
    warning = None
    if args.tiny_model:
        from bench.speed.torch_baseline import build_tiny_artifact

        texts = [r["text"] for r in corpus_records()[0]][:3000]
        args.model = build_tiny_artifact(work / "tiny-model", texts)
        warning = ("NOT the trained model: a random tiny ONNX model with the real input/output shapes "
                   "(models/default did not exist). Throughput is higher than the real model's; "
                   "rerun with --model.")  # fmt: skip
    elif args.engine_factory:
        args.model = None
        warning = f"NOT the trained model: engine factory {args.engine_factory} (no ONNX model at all)."
    elif args.model is None:
        args.model = DEFAULT_MODEL_DIR
    elif Path(args.model).resolve() != DEFAULT_MODEL_DIR.resolve():
        manifest = Path(args.model) / "manifest.json"
        about = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
        weights = (about.get("onnx") or {}).get("weights")
        warning = (f"NOT the shipped default model: {about.get('name')}@{about.get('version')} from {args.model}"
                   + (f" (ONNX weights: {weights})" if weights else "") + ".")  # fmt: skip
    if args.model is not None and not (Path(args.model) / "manifest.json").is_file():
        raise SystemExit(f"error: no model at {args.model} (no manifest.json); pass --model DIR, --tiny-model or "
                         "--engine-factory")
    if warning:
        notes.add(warning)
    header = run_header("reclassify", smoke=args.smoke, model_dir=Path(args.model) if args.model else None)
    if header["machine"]["load_average"][0] > 0.5:
        notes.add(f"the machine was not idle at the start (load average {header['machine']['load_average']}): other "
                  "processes share the CPUs, so every rows/s figure here is a lower bound")  # fmt: skip

    log(f"work folder {work} (pass --work {work} to reuse it after an interruption)")
    big = _input(work, args.rows)
    small = _input(work, args.memory_rows)
    modes = [m for m in args.modes.split(",") if m]
    if "ray" in modes:
        try:
            __import__("ray")
        except ImportError:
            notes.add("ray is not installed: the ray mode was skipped (pip install -e '.[ray]')")
            modes.remove("ray")
    # Each measurement is kept in the work folder: a killed benchmark reruns only what is missing.
    # The baseline holds the whole file in memory and is the slowest: --baseline-rows may run it on fewer rows.
    baseline_rows = args.baseline_rows = min(args.baseline_rows or args.rows, args.rows)
    mid = big if baseline_rows == args.rows else _input(work, baseline_rows)
    plan = [(m, baseline_rows if m == "baseline" else args.rows, mid if m == "baseline" else big) for m in modes]
    memory_modes = [m for m in args.memory_modes.split(",") if m]
    plan += [(m, args.memory_rows, small) for m in memory_modes
             if m in modes and args.memory_rows < (baseline_rows if m == "baseline" else args.rows)]  # fmt: skip
    runs: list[dict[str, Any]] = []
    memory: list[dict[str, Any]] = []
    outputs: dict[tuple[str, int], Path] = {}
    data: dict[str, Any] = {}
    for mode, rows, source in plan:
        record = work / f"run-{mode}-{rows}.json"
        output = work / f"out-{mode}-{rows}.parquet"
        if record.is_file() and output.is_file():
            result = json.loads(record.read_text(encoding="utf-8"))
            log(f"{mode}: {rows:,} rows (kept from an earlier run)")
        else:
            log(f"{mode}: {rows:,} rows")
            result = measure(mode, Path(source["path"]), output, args)
            record.write_text(json.dumps(result), encoding="utf-8")
            log(f"{mode}: {result['rows_per_s']} rows/s, peak RSS {result['peak_tree_rss_mb']} MiB")
        outputs[(mode, rows)] = output
        if rows == (baseline_rows if mode == "baseline" else args.rows):
            runs.append(result)
        if mode in memory_modes:
            memory.append(result)
        data = _results(header, warning, big, small, args, runs, memory, outputs, notes, complete=False)
        write_results("reclassify", data, markdown(data), out_dir)
    data = _results(header, warning, big, small, args, runs, memory, outputs, notes, complete=True)
    paths = write_results("reclassify", data, markdown(data), out_dir)
    log(f"results: {paths[0]} and {paths[1]}")
    return data


def _input(work: Path, rows: int) -> dict[str, Any]:
    path = work / f"posts-{rows}.parquet"
    info = work / f"posts-{rows}.json"
    if path.is_file() and info.is_file():
        return dict(json.loads(info.read_text(encoding="utf-8")))
    log(f"building {rows:,} rows")
    built = build_input(path, rows)
    info.write_text(json.dumps(built), encoding="utf-8")
    return built


def _results(
    header: dict[str, Any], warning: str | None, big: dict[str, Any], small: dict[str, Any], args: argparse.Namespace,
    runs: list[dict[str, Any]], memory: list[dict[str, Any]], outputs: dict[str, Path], notes: Notes, complete: bool,
) -> dict[str, Any]:
    verdict = ""
    by = {(m["mode"], m["input_rows"]): m["peak_tree_rss_mb"] for m in memory}
    baseline_rows = args.baseline_rows  # already bounded by --rows in run()
    for mode in ("local-1", "local", "ray"):
        if (mode, args.rows) in by and (mode, args.memory_rows) in by:
            grow = by[(mode, args.rows)] - by[(mode, args.memory_rows)]
            verdict += (f"{mode}: {by[(mode, args.memory_rows)]} MiB at {args.memory_rows:,} rows, "
                        f"{by[(mode, args.rows)]} MiB at {args.rows:,} rows (growth {grow:+.1f} MiB for "
                        f"{args.rows / args.memory_rows:.0f}x the rows). ")
    if ("baseline", baseline_rows) in by and ("baseline", args.memory_rows) in by:
        grow_base = by[("baseline", baseline_rows)] - by[("baseline", args.memory_rows)]
        verdict += (f"Baseline (whole file in memory): {by[('baseline', args.memory_rows)]} MiB at "
                    f"{args.memory_rows:,} rows, {by[('baseline', baseline_rows)]} MiB at {baseline_rows:,} rows "
                    f"(growth {grow_base:+.1f} MiB).")
    return {
        "header": header,
        "complete": complete,
        "warning": warning,
        "input": big,
        "memory_input": small,
        "chunk_size": args.chunk_size,
        "runs": runs,
        "memory": sorted(memory, key=lambda m: (m["mode"], m["input_rows"])),
        "memory_verdict": verdict.strip(),
        "baseline_rows": baseline_rows,
        "equality": compare(outputs, args.rows, baseline_rows) if complete else {},
        "notes": notes.items,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        p = argparse.ArgumentParser()
        p.add_argument("_child")
        p.add_argument("--mode", choices=MODES, required=True)
        p.add_argument("--input", required=True)
        p.add_argument("--output", required=True)
        p.add_argument("--model")
        p.add_argument("--engine-factory")
        p.add_argument("--chunk-size", type=int, default=1000)
        args = p.parse_args(argv)
        sys.stdout.write(json.dumps(child(args)) + "\n")
        return
    p = argparse.ArgumentParser(prog="python -m bench.reclassify.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="model folder (default models/default)")
    p.add_argument("--rows", type=int, default=100_000, help="rows in the benchmark file")
    p.add_argument("--memory-rows", type=int, default=20_000, help="rows of the smaller file for the memory check")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--memory-modes", default="local-1,baseline",
                   help="modes also run on --memory-rows rows, to show how peak memory grows with the input")
    p.add_argument("--baseline-rows", type=int, default=None,
                   help="rows for the slow whole-file baseline (default --rows; its own file, same generator)")
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--tiny-model", action="store_true", help="no trained model: use a random tiny ONNX model")
    p.add_argument("--engine-factory", help="module:function(spec) returning an Engine instead of a model")
    p.add_argument("--smoke", action="store_true", help="tiny sizes; results in a temporary folder")
    p.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    p.add_argument("--work", type=Path, default=None, help="work folder to reuse (inputs, outputs, finished runs)")
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()

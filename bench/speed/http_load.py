"""HTTP latency and throughput of the real server on loopback, with its memory.

For each server configuration (workers × inference threads, micro-batching on or off) this starts the
real application in a subprocess on a free 127.0.0.1 port — ``triage serve`` when the CLI has it, else
``uvicorn serving.app:create_app_from_env --factory`` — with the settings as ``TRIAGE_*`` environment
variables (``serving/settings.py``), waits for ``/readyz``, then drives ``POST /v1/triage`` with an
asyncio + httpx load generator:

* **idle** — one request at a time (concurrency 1): the latency a lone post sees;
* **concurrency 8 / 16** — that many clients in a closed loop (each sends its next post as soon as
  its last answer arrives): latency under load and requests/s.

Every phase is bounded in time and in request count. The server's process tree is sampled for RSS
throughout. Each phase also reports how its requests spread over the worker processes
(``per_worker_requests`` by pid, ``workers_used``, ``busiest_worker_share``), from the server's
``triage_worker_requests`` metric read before and after the phase: with keep-alive clients a worker
that accepts every connection serves every request, whatever the number of workers. The load generator
shares the machine's cores with the server, so requests/s on a 2-core machine is a lower bound of what a
separate client would see.

CLI: ``python -m bench.speed.http_load [--model DIR] [--seconds 10] [--config 1x2 --config 2x1 ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, RssSampler, log, summarise_ms


@dataclass(frozen=True)
class ServerConfig:
    """One way to run the server."""

    workers: int
    threads: int
    microbatch: bool = False

    @property
    def name(self) -> str:
        return f"{self.workers} worker{'s' if self.workers > 1 else ''} × {self.threads} thread" + (
            "s" if self.threads > 1 else "") + (" + micro-batching" if self.microbatch else "")

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        """``"2x1"`` (workers x threads), with ``"+mb"`` for micro-batching: ``"1x2+mb"``."""
        core, _, flag = text.partition("+")
        workers, _, threads = core.partition("x")
        return cls(int(workers), int(threads or 1), flag.strip().lower() in {"mb", "microbatch"})


DEFAULT_CONFIGS: tuple[ServerConfig, ...] = (
    ServerConfig(1, 2),
    ServerConfig(2, 1),
    ServerConfig(1, 2, microbatch=True),
    ServerConfig(2, 1, microbatch=True),
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@functools.lru_cache(maxsize=1)
def _cli_has_serve() -> bool:
    try:
        done = subprocess.run([sys.executable, "-m", "triage", "serve", "--help"], cwd=ROOT,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def server_command(config: ServerConfig, port: int) -> tuple[list[str], str]:
    """The command that starts the real server, and a label for the results. RuntimeError when absent."""
    if _cli_has_serve():
        return ([sys.executable, "-m", "triage", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(config.workers), "--threads", str(config.threads),
                 "--microbatch" if config.microbatch else "--no-microbatch"],
                "triage serve")
    if importlib.util.find_spec("serving") and importlib.util.find_spec("serving.app"):
        return ([sys.executable, "-m", "uvicorn", "serving.app:create_app_from_env", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--workers", str(config.workers),
                 "--log-level", "warning", "--no-access-log"],
                "uvicorn serving.app:create_app_from_env --factory")
    raise RuntimeError("no server to benchmark: neither `triage serve` nor serving.app:create_app_from_env exists")


class Server:
    """The server subprocess: started in its own session, stopped by its process group."""

    def __init__(self, config: ServerConfig, model_dir: Path | None, ready_timeout_s: float = 180.0) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="triage-bench-http-"))
        self.log_path = self.workdir / "server.log"
        self.command, self.launcher = server_command(config, self.port)
        env = dict(os.environ)
        env.update({
            "TRIAGE_HOST": "127.0.0.1",
            "TRIAGE_PORT": str(self.port),
            "TRIAGE_WORKERS": str(config.workers),
            "TRIAGE_THREADS": str(config.threads),
            "TRIAGE_MICROBATCH": "true" if config.microbatch else "false",
            "TRIAGE_DATABASE_URL": f"sqlite:///{self.workdir / 'feedback.db'}",
            "TRIAGE_LOG_LEVEL": "warning",
            "TRIAGE_API_KEYS": "",
            "PYTHONUNBUFFERED": "1",
        })
        if model_dir is not None:
            env["TRIAGE_MODEL_DIR"] = env["TRIAGE_MODEL"] = str(model_dir)
        self.env = env
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    def __enter__(self) -> Server:
        import httpx

        t0 = time.perf_counter()
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = t0 + self.ready_timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200 and self._all_workers_serve():
                        self.startup_s = round(time.perf_counter() - t0, 2)
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server was not ready after {self.ready_timeout_s:.0f} s:\n{self.log_tail()}")

    def _all_workers_serve(self) -> bool:
        """True once every worker has answered a request (a worker still loading its model listens on
        nothing, so readiness alone may come from one worker); True at once if the server does not say."""
        import httpx

        if self.config.workers < 2:
            return True
        for _ in range(4 * self.config.workers):  # fresh connections: the kernel spreads them over workers
            httpx.get(f"{self.url}/readyz", timeout=2.0)
        seen = parse_worker_requests(httpx.get(f"{self.url}/metrics", timeout=5.0).text)
        return not seen or len(seen) >= self.config.workers

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        self._log.close()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


_WORKER_LINE = re.compile(r'^triage_worker_requests(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$')
_PID = re.compile(r'pid="(?P<pid>[^"]+)"')


def parse_worker_requests(metrics_text: str) -> dict[str, float]:
    """Requests handled so far per worker process (pid) from /metrics text; {} when the server has no such metric.

    One worker without multi-process metrics has no pid label: its count is under ``"all"``.
    """
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        match = _WORKER_LINE.match(line.strip())
        if match:
            pid = _PID.search(match.group("labels") or "")
            out[pid.group("pid") if pid else "all"] = float(match.group("value"))
    return out


def worker_spread(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """How the requests between two readings of ``parse_worker_requests`` spread over the workers."""
    per = {pid: round(after[pid] - before.get(pid, 0.0)) for pid in sorted(after)}
    total = sum(per.values())
    return {
        "per_worker_requests": per,
        "workers_used": sum(1 for v in per.values() if v > 0),
        "busiest_worker_share": round(max(per.values()) / total, 3) if total else None,
    }


async def _worker_requests(client: Any, url: str) -> dict[str, float]:
    import httpx

    try:
        return parse_worker_requests((await client.get(f"{url}/metrics")).text)
    except httpx.HTTPError:
        return {}


async def _drive(url: str, texts: Sequence[str], concurrency: int, seconds: float, max_requests: int,
                 offset: int = 0) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` clients, each sending its next post when its last one returns."""
    import httpx

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    counter = {"next": offset}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=10.0) as probe:
        before = await _worker_requests(probe, url)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def one_client() -> None:
            while time.perf_counter() < deadline and len(latencies) < max_requests:
                i = counter["next"]
                counter["next"] += 1
                body = {"text": texts[i % len(texts)], "channel": "facebook"}
                t = time.perf_counter()
                try:
                    response = await client.post("/v1/triage", json=body)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = (time.perf_counter() - t) * 1000.0
                statuses[status] += 1
                if status == "200":
                    latencies.append(elapsed)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    async with httpx.AsyncClient(timeout=10.0) as probe:
        spread = worker_spread(before, await _worker_requests(probe, url))
    ok = statuses.get("200", 0)
    return {
        "concurrency": concurrency,
        "seconds": round(wall, 2),
        "requests": sum(statuses.values()),
        "ok": ok,
        "errors": {k: v for k, v in statuses.items() if k != "200"},
        "requests_per_s": round(ok / wall, 2) if wall else None,
        "latency_ms": summarise_ms(latencies),
        **spread,
    }


def run_config(
    config: ServerConfig,
    texts: Sequence[str],
    *,
    model_dir: Path | None,
    seconds: float,
    concurrencies: Sequence[int] = (1, 8, 16),
    max_requests: int = 20000,
    warmup_requests: int = 20,
) -> dict[str, Any]:
    """Start one server configuration, measure each concurrency level, stop it; with peak RSS."""
    out: dict[str, Any] = {"config": asdict(config), "name": config.name}
    with Server(config, model_dir) as server, RssSampler(server.proc.pid if server.proc else 0) as rss:
        out["launcher"] = server.launcher
        out["startup_s"] = server.startup_s
        rss.sample()
        out["rss_after_start_mb"] = rss.last_mb
        asyncio.run(_drive(server.url, texts, min(2, max(concurrencies)), 60.0, warmup_requests))
        phases = {}
        for i, c in enumerate(concurrencies):
            label = "idle" if c == 1 else f"concurrency_{c}"
            log(f"http {config.name}: {label} for {seconds:g} s")
            phases[label] = asyncio.run(_drive(server.url, texts, c, seconds, max_requests, offset=i * 9973))
        out["phases"] = phases
        rss.sample()
        out["memory"] = rss.report()
    return out


def run_all(
    texts: Sequence[str],
    *,
    model_dir: Path | None,
    seconds: float,
    configs: Sequence[ServerConfig] = DEFAULT_CONFIGS,
    concurrencies: Sequence[int] = (1, 8, 16),
    max_requests: int = 20000,
) -> dict[str, Any]:
    """Every configuration in turn; a configuration that fails to start is reported, not fatal."""
    results: dict[str, Any] = {"configs": [], "notes": []}
    for config in configs:
        try:
            results["configs"].append(run_config(config, texts, model_dir=model_dir, seconds=seconds,
                                                 concurrencies=concurrencies, max_requests=max_requests))
        except RuntimeError as exc:
            results["notes"].append(f"{config.name}: {exc}")
            results["configs"].append({"config": asdict(config), "name": config.name, "error": str(exc)[-2000:]})
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.http_load", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the server's default)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per load phase")
    parser.add_argument("--config", action="append", default=None,
                        help="WORKERSxTHREADS[+mb], repeatable (default: 1x2 2x1 1x2+mb 2x1+mb)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args(argv)
    from bench.common import load_corpus_posts

    texts, source = load_corpus_posts()
    configs = [ServerConfig.parse(c) for c in args.config] if args.config else list(DEFAULT_CONFIGS)
    result = run_all(texts, model_dir=args.model, seconds=args.seconds, configs=configs,
                     concurrencies=args.concurrency)
    result["posts"] = source
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared helpers for the benchmarks: the machine they ran on, timing, memory, inputs and result files.

Nothing here imports torch, transformers or onnxruntime at module level, so a benchmark's worker
processes stay light and its memory figures stay honest.

* :func:`machine_info` — CPU model and ISA flags, cores (logical, affinity, cgroup quota), RAM, OS,
  Python and library versions, BLAS, load average: everything needed to judge a number later.
* :func:`git_info` — commit and whether the tree was dirty.
* :func:`summarise_ms`, :func:`time_calls` — latency percentiles and a time- and count-bounded loop.
* :func:`rss_mb`, :func:`peak_rss_mb`, :class:`RssSampler` — resident memory read from ``/proc``.
* :class:`CpuMonitor` — how busy the whole machine was during a run (other processes contaminate it).
* :func:`load_corpus_posts` — the project's labeled posts (``data/corpus``, else ``/tmp/corpus``).
* :func:`write_results`, :func:`md_table`, :class:`Target` — ``<name>.json`` + ``<name>.md``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_MODEL_DIR = ROOT / "models" / "default"
CORPUS_DIRS = (ROOT / "data" / "corpus", Path("/tmp/corpus"))
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

LIBRARIES = (
    "numpy",
    "onnxruntime",
    "tokenizers",
    "torch",
    "transformers",
    "scikit-learn",
    "fastapi",
    "uvicorn",
    "httpx",
    "pydantic",
    "spacy",
)
# ISA features that decide how fast a matrix multiply can go (fp32 FMA width, int8 dot products, bf16, AMX).
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)

# A few posts for smoke runs when no corpus is present (Hebrew, English, mixed; short and long).
SAMPLE_POSTS: tuple[str, ...] = (
    "שבועיים מחכה לחבילה ואף אחד לא עונה",
    "Charged twice this month. Again.",
    "תודה לנציגה שרית, שירות מדהים!",
    "How do I reset my router?",
    "אם זה לא יסתדר עד מחר אני עובר לפרטנר",
    "Cancel my subscription now",
    "כמה עולה החבילה של הסיבים? רוצה להזמין",
    "found a piece of glass in my salad, my kid almost swallowed it. calling my lawyer",
    "עד איזו שעה הסניף בדיזינגוף פתוח?",
    "Please update my delivery address to 12 Herzl St, order 4471902, call me on 052-3456789",
    "@דני תראה את זה 😂",
    "Follow me for free crypto 🚀🚀 link in bio",
    "הזמנתי דרך האפליקציה לפני שלושה ימים, מספר הזמנה 5512093, עדיין לא קיבלתי שום עדכון ואף אחד לא "
    "עונה בצ'אט. זאת הפעם השלישית שאני כותבת לכם, אם לא תחזרו אליי היום אני מבטלת את המנוי",
    "Bring back the old menu please, the new one is confusing and the kids miss the pancakes",
)


# --------------------------------------------------------------------------------------------------
# Machine and repository description


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cpuinfo() -> dict[str, Any]:
    text = _read("/proc/cpuinfo") or ""
    first: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if first:
                break
            continue
        key, _, value = line.partition(":")
        first[key.strip()] = value.strip()
    flags = set(first.get("flags", "").split())
    mhz = first.get("cpu MHz")
    return {
        "model": first.get("model name") or platform.processor() or platform.machine(),
        "vendor": first.get("vendor_id"),
        "family": first.get("cpu family"),
        "model_number": first.get("model"),
        "mhz": float(mhz) if mhz else None,
        "isa": sorted(f for f in ISA_FLAGS if f in flags),
        "hypervisor": "hypervisor" in flags,
    }


def _caches() -> dict[str, str]:
    out: dict[str, str] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")):
        level, kind, size = (_read(index / n) for n in ("level", "type", "size"))
        if level and kind and size:
            name = f"L{level.strip()}" + ({"Data": "d", "Instruction": "i"}.get(kind.strip(), ""))
            out[name] = size.strip()
    return out


def _cgroup_limits() -> dict[str, Any]:
    out: dict[str, Any] = {}
    cpu_max = _read("/sys/fs/cgroup/cpu.max")
    if cpu_max:
        quota, _, period = cpu_max.strip().partition(" ")
        out["cpu_quota_cores"] = None if quota == "max" else round(int(quota) / int(period or 100000), 2)
    mem_max = _read("/sys/fs/cgroup/memory.max")
    if mem_max:
        value = mem_max.strip()
        out["memory_limit_mb"] = None if value == "max" else round(int(value) / 2**20)
    return out


def _meminfo_mb(key: str) -> int | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return None


def _os_name() -> str:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str | None]:
    """Installed version of each distribution, None when it is not installed."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _blas() -> str | None:
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}".strip()
    except Exception:  # the layout of show_config is not a stable API
        return None


def machine_info() -> dict[str, Any]:
    """Everything about this machine that a speed number depends on."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "cpu": _cpuinfo(),
        "logical_cpus": os.cpu_count(),
        "cpus_usable": affinity,
        "caches": _caches(),
        **_cgroup_limits(),
        "memory_total_mb": _meminfo_mb("MemTotal"),
        "memory_available_mb": _meminfo_mb("MemAvailable"),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "libraries": library_versions(),
        "blas": _blas(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "env": {k: v for k, v in os.environ.items() if k.startswith(("TRIAGE_", "OMP_", "MKL_", "OPENBLAS_"))},
    }


def git_info(root: Path = ROOT) -> dict[str, Any]:
    """Commit of the checkout and whether it had uncommitted changes (None outside git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    return {
        "commit": commit,
        "dirty": bool(status) if status is not None else None,
        "changed_files": len(status.splitlines()) if status else 0,
    }


def model_info(model_dir: Path) -> dict[str, Any]:
    """Name, version and architecture of a model folder (manifest only; files are not hashed here)."""
    path = Path(model_dir) / "manifest.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return {"dir": str(model_dir), "error": f"cannot read {path}: {exc}"}
    onnx_path = Path(model_dir) / "model.onnx"
    return {
        "dir": str(model_dir),
        "name": raw.get("name"),
        "version": raw.get("version"),
        "created_at": raw.get("created_at"),
        "base_model": (raw.get("base_model") or {}).get("name"),
        "architecture": raw.get("architecture") or {},
        "onnx": raw.get("onnx") or {},
        "training": {k: v for k, v in (raw.get("training") or {}).items() if isinstance(v, str | int | float | bool)},
        "onnx_sha256": (raw.get("files") or {}).get("model.onnx"),
        "onnx_mb": round(onnx_path.stat().st_size / 2**20, 1) if onnx_path.is_file() else None,
        "max_length": raw.get("max_length"),
    }


def run_header(benchmark: str, *, smoke: bool, model_dir: Path | None) -> dict[str, Any]:
    """The common top of every results file."""
    return {
        "benchmark": benchmark,
        "smoke": smoke,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", f"bench.{benchmark}.run", *sys.argv[1:]]),
        "machine": machine_info(),
        "git": git_info(),
        "model": model_info(model_dir) if model_dir else None,
    }


# --------------------------------------------------------------------------------------------------
# Timing


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarise_ms(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """n, mean, p50, p95, p99, min, max of latencies in milliseconds."""
    if not samples_ms:
        return {"n": 0}
    return {
        "n": len(samples_ms),
        "mean": round(sum(samples_ms) / len(samples_ms), 3),
        "p50": round(percentile(samples_ms, 50), 3),
        "p95": round(percentile(samples_ms, 95), 3),
        "p99": round(percentile(samples_ms, 99), 3),
        "min": round(min(samples_ms), 3),
        "max": round(max(samples_ms), 3),
    }


def time_calls(
    fn: Callable[[int], object], *, seconds: float, max_calls: int, warmup: int = 3, min_calls: int = 5
) -> list[float]:
    """Call ``fn(i)`` for i = 0, 1, ... until ``seconds`` have passed or ``max_calls`` were made.

    Returns each call's wall time in milliseconds. ``warmup`` calls run first and are not counted; at
    least ``min_calls`` are timed whatever the time bound, so a slow model still gets percentiles.
    """
    for i in range(warmup):
        fn(i)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    i = 0
    while i < max_calls and (time.perf_counter() < deadline or i < min_calls):
        t = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t) * 1000.0)
        i += 1
    return samples


def timed_chunks(
    step: Callable[[Sequence[str]], object], texts: Sequence[str], batch_size: int, seconds: float, max_posts: int
) -> dict[str, Any]:
    """Feed ``texts`` (cycling) to ``step`` ``batch_size`` at a time until ``seconds`` or ``max_posts`` are used.

    One warm-up call first. At least three calls are timed. Returns posts/s and per-call latency.
    """
    step(texts[:batch_size])
    latencies: list[float] = []
    posts, i = 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while (time.perf_counter() < deadline or len(latencies) < 3) and posts < max_posts:
        chunk = [texts[(i + j) % len(texts)] for j in range(batch_size)]
        i += batch_size
        t = time.perf_counter()
        step(chunk)
        latencies.append((time.perf_counter() - t) * 1000.0)
        posts += len(chunk)
    elapsed = time.perf_counter() - start
    return {"posts": posts, "seconds": round(elapsed, 3), "posts_per_s": round(posts / elapsed, 2),
            "call_ms": summarise_ms(latencies), "batch_size": batch_size}


# --------------------------------------------------------------------------------------------------
# Memory (from /proc, no psutil)


def _status_kb(pid: int | str, key: str) -> int | None:
    for line in (_read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def rss_mb(pid: int | str = "self") -> float | None:
    """Current resident set size of a process (VmRSS), MiB."""
    kb = _status_kb(pid, "VmRSS")
    return round(kb / 1024, 1) if kb is not None else None


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size of a process over its life so far (VmHWM), MiB."""
    kb = _status_kb(pid, "VmHWM")
    return round(kb / 1024, 1) if kb is not None else None


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = _read(task / "children") or ""
            todo += [int(c) for c in children.split()]
    return out


class RssSampler:
    """Samples the summed RSS of a process tree in a background thread; ``peak_mb`` is the highest sum.

    Also keeps each process's own VmHWM as last seen, since short spikes between samples show up there.
    """

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.last_mb = 0.0
        self.per_process_peak_mb: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        total = 0.0
        for p in process_tree(self.pid):
            total += rss_mb(p) or 0.0
            hwm = peak_rss_mb(p)
            if hwm is not None:
                self.per_process_peak_mb[p] = max(hwm, self.per_process_peak_mb.get(p, 0.0))
        self.last_mb = round(total, 1)
        self.peak_mb = max(self.peak_mb, self.last_mb)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, Any]:
        return {
            "peak_tree_rss_mb": self.peak_mb,
            "last_tree_rss_mb": self.last_mb,
            "processes": len(self.per_process_peak_mb),
            "per_process_peak_mb": sorted(self.per_process_peak_mb.values(), reverse=True),
        }


class CpuMonitor:
    """Whole-machine CPU use between start and stop, from ``/proc/stat``.

    A benchmark that keeps 2 cores busy should see ~100 % busy; what it cannot tell apart is whose work
    that was, so compare with the benchmark's own expectation (idle phases should read near 0 %).
    ``steal_pct`` is time the hypervisor gave to other guests.
    """

    def __init__(self) -> None:
        self._start: list[int] | None = None
        self._t0 = 0.0

    @staticmethod
    def _read_stat() -> list[int] | None:
        line = (_read("/proc/stat") or "").splitlines()[:1]
        if not line or not line[0].startswith("cpu "):
            return None
        return [int(x) for x in line[0].split()[1:]]

    def start(self) -> CpuMonitor:
        self._start = self._read_stat()
        self._t0 = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        end = self._read_stat()
        if not self._start or not end:
            return {}
        d = [b - a for a, b in zip(self._start, end, strict=False)]
        total = sum(d) or 1
        idle = d[3] + (d[4] if len(d) > 4 else 0)
        steal = d[7] if len(d) > 7 else 0
        return {
            "seconds": round(time.perf_counter() - self._t0, 2),
            "busy_pct": round(100.0 * (total - idle) / total, 1),
            "steal_pct": round(100.0 * steal / total, 1),
        }


# --------------------------------------------------------------------------------------------------
# Inputs


def find_corpus_dir(explicit: Path | None = None) -> Path | None:
    """``explicit`` if given, else ``data/corpus`` when it has a test split, else ``/tmp/corpus``."""
    candidates = [explicit] if explicit else list(CORPUS_DIRS)
    for d in candidates:
        if d is not None and (Path(d) / "test.jsonl").is_file():
            return Path(d)
    return None


def load_corpus_rows(corpus_dir: Path, splits: Sequence[str] = ("train", "dev", "test")) -> dict[str, list[dict]]:
    """Raw rows (dicts) of each split present, validated with the corpus record model."""
    from training.corpus.records import load_split

    out: dict[str, list[dict]] = {}
    for split in splits:
        if (corpus_dir / f"{split}.jsonl").is_file():
            out[split] = [r.model_dump() for r in load_split(corpus_dir, split)]
    return out


def load_corpus_posts(corpus_dir: Path | None = None) -> tuple[list[str], str]:
    """Texts of every post in the corpus (all splits: the real length distribution) and where they came from.

    Falls back to :data:`SAMPLE_POSTS` when no corpus is found.
    """
    found = find_corpus_dir(corpus_dir)
    if found is None:
        return list(SAMPLE_POSTS), "built-in sample posts (no corpus found)"
    rows = load_corpus_rows(found)
    texts = [r["text"] for split in rows.values() for r in split]
    return texts, f"{found} ({', '.join(f'{k}: {len(v)}' for k, v in rows.items())})"


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class Target:
    """One target of the issue: what was asked, what was measured, whether it was met and why not."""

    name: str
    target: str
    measured: float | None
    unit: str
    met: bool | None
    miss_by: str = ""
    why: str = ""
    config: str = ""

    @classmethod
    def at_most(
        cls, name: str, limit: float, measured: float | None, unit: str, *, why: str = "", config: str = ""
    ) -> Target:
        goal = f"≤ {limit:g} {unit}".strip()
        if measured is None or math.isnan(measured):
            return cls(name, goal, None, unit, None, "not measured", why, config)
        met = measured <= limit
        over = f"{measured - limit:.3g} {unit}".strip()
        ratio = f" ({measured / limit:.2f}× the target)" if limit > 0 else ""
        miss = "" if met else f"{over} over{ratio}"
        return cls(name, goal, measured, unit, met, miss, "" if met else why, config)

    @classmethod
    def at_least(
        cls, name: str, floor: float, measured: float | None, unit: str, *, why: str = "", config: str = ""
    ) -> Target:
        goal = f"≥ {floor:g} {unit}".strip()
        if measured is None or math.isnan(measured):
            return cls(name, goal, None, unit, None, "not measured", why, config)
        met = measured >= floor
        short = f"{floor - measured:.3g} {unit}".strip()
        ratio = f" ({measured / floor:.0%} of the target)" if floor > 0 else ""
        miss = "" if met else f"{short} short{ratio}"
        return cls(name, goal, measured, unit, met, miss, "" if met else why, config)


def targets_table(targets: Sequence[Target]) -> str:
    rows = []
    for t in targets:
        met = {True: "yes", False: "**no**", None: "not measured"}[t.met]
        measured = "—" if t.measured is None else f"{t.measured:.4g} {t.unit}".strip()
        rows.append([t.name, t.target, measured, met, t.miss_by, t.why, t.config])
    return md_table(["target", "goal", "measured", "met?", "missed by", "why", "configuration"], rows)


def fmt(value: object, digits: int = 3) -> str:
    """A table cell: numbers rounded, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if abs(value) < 10:
            return f"{value:.{digits}f}"
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub Markdown table; cells are formatted with :func:`fmt` and pipes escaped."""

    def cell(v: object) -> str:
        return fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_markdown(header: dict[str, Any]) -> str:
    """The 'where and what' section of a results file."""
    m, g, model = header["machine"], header["git"], header.get("model") or {}
    cpu = m["cpu"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    rows = [
        ["date", header["date"]],
        ["command", f"`{header['command']}`"],
        ["git commit", f"{g.get('commit')}" + (f" (dirty: {g['changed_files']} files)" if g.get("dirty") else "")],
        ["model", f"{model.get('name')}@{model.get('version')} ({model.get('dir')})" if model else "—"],
        ["CPU", f"{cpu['model']} ({cpu.get('vendor')} family {cpu.get('family')} model {cpu.get('model_number')})"
         f"{', under a hypervisor' if cpu.get('hypervisor') else ''}"],
        ["ISA", ", ".join(cpu["isa"])],
        ["cores", f"{m['logical_cpus']} logical, {m['cpus_usable']} usable"
         + (f", cgroup quota {m['cpu_quota_cores']}" if m.get("cpu_quota_cores") else "")],
        ["caches", ", ".join(f"{k} {v}" for k, v in m["caches"].items())],
        ["RAM", f"{m['memory_total_mb']} MiB"
         + (f", cgroup limit {m['memory_limit_mb']} MiB" if m.get("memory_limit_mb") else "")],
        ["OS", f"{m['os']}, kernel {m['kernel']}"],
        ["Python", m["python"]],
        ["libraries", libs],
        ["BLAS (numpy)", m.get("blas")],
        ["load average at start", " / ".join(str(x) for x in m["load_average"])],
    ]
    return md_table(["", ""], rows)


def write_results(name: str, data: dict[str, Any], markdown: str, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.json`` and ``<name>.md`` (atomically) and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / f"{name}.json", out_dir / f"{name}.md")
    contents = (json.dumps(data, ensure_ascii=False, indent=2, default=_json_default) + "\n", markdown.rstrip() + "\n")
    for path, text in zip(paths, contents, strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths


def _json_default(value: object) -> object:
    if isinstance(value, Target):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float | int):
        return value
    return str(value)


def results_dir(smoke: bool, explicit: Path | None) -> Path:
    """Where results go: ``explicit``; else a fresh temp folder for smoke runs; else ``bench/results``.

    Smoke runs never write into ``bench/results``: their numbers come from tiny inputs and models.
    """
    if explicit is not None:
        return explicit
    if smoke:
        return Path(tempfile.mkdtemp(prefix="triage-bench-smoke-"))
    return RESULTS_DIR


@dataclass
class Notes:
    """Free-text remarks collected during a run (skipped parts, fallbacks, contamination warnings)."""

    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        print(f"note: {text}", file=sys.stderr)
        self.items.append(text)


def log(message: str) -> None:
    """Progress on stderr, with a timestamp."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

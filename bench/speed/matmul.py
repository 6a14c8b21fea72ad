"""This machine's sustained matrix-multiply rate: the hardware limit the model's speed is judged against.

Each measurement multiplies ``A[m, k] · B[k, n]`` again and again for a fixed time and reports
``2·m·k·n · calls / elapsed`` (sustained, GFLOP/s) and the best single call. Two backends:

* numpy (its BLAS), threads capped with ``threadpoolctl``;
* onnxruntime (the inference runtime: MLAS kernels), ``intra_op_num_threads`` set, inputs and output
  bound once with I/O binding so only the multiply is timed.

Shapes: the model's own (``[T, h]·[h, f]`` and friends for one post of T tokens and for a batch of
B·T rows) and large squares, where GEMM is most efficient. The *limit* for a thread count is the best
sustained fp32 rate over every shape and backend. int8 (``MatMulInteger``) is measured too, to check
whether quantisation could pay on this CPU (it depends on VNNI / AMX support).

CLI: ``python -m bench.speed.matmul [--seconds 2] [--threads 1 2] [--hidden 384 --intermediate 1536]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GemmResult:
    backend: str
    dtype: str
    m: int
    k: int
    n: int
    threads: int
    calls: int
    seconds: float
    gflops: float
    best_call_gflops: float
    note: str = ""


def model_shapes(hidden: int, intermediate: int, tokens: int, batch_rows: int) -> list[tuple[int, int, int]]:
    """The encoder's dense products for one post (``tokens`` rows) and for a batch (``batch_rows`` rows)."""
    out = []
    for rows in (tokens, batch_rows):
        out += [(rows, hidden, hidden), (rows, hidden, intermediate), (rows, intermediate, hidden)]
    return out


SQUARE_SHAPES: tuple[tuple[int, int, int], ...] = ((1024, 1024, 1024), (2048, 2048, 2048))


def _loop(fn: Callable[[], object], flops: float, seconds: float, warmup_s: float | None) -> tuple[int, float, float]:
    """Run ``fn`` for ``seconds`` after a warm-up (default: a quarter of ``seconds``, at most 0.5 s);
    return (calls, elapsed, best single-call seconds)."""
    end = time.perf_counter() + (min(0.5, seconds / 4) if warmup_s is None else warmup_s)
    fn()
    while time.perf_counter() < end:
        fn()
    calls, best = 0, float("inf")
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline or calls < 3:
        t = time.perf_counter()
        fn()
        now = time.perf_counter()
        best = min(best, now - t)
        calls += 1
    return calls, now - start, best


def gemm_numpy(m: int, k: int, n: int, threads: int, seconds: float, warmup_s: float | None = None) -> GemmResult:
    """Sustained fp32 ``np.matmul`` rate with BLAS limited to ``threads``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    flops = 2.0 * m * k * n
    note = ""
    try:
        from threadpoolctl import threadpool_limits

        limiter: Any = threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        limiter, note = None, "threadpoolctl missing: BLAS threads not controlled"
    try:
        calls, elapsed, best = _loop(lambda: np.matmul(a, b, out=c), flops, seconds, warmup_s)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
    return GemmResult("numpy", "fp32", m, k, n, threads, calls, round(elapsed, 3),
                      round(flops * calls / elapsed / 1e9, 2), round(flops / best / 1e9, 2), note)


def _ort_session(k: int, n: int, threads: int, dtype: str) -> Any:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    b: np.ndarray
    if dtype == "int8":
        b = rng.integers(-127, 128, size=(k, n), dtype=np.int8)
        nodes = [helper.make_node("MatMulInteger", ["A", "B"], ["C"])]
        a_type, c_type = TensorProto.UINT8, TensorProto.INT32
    else:
        b = rng.standard_normal((k, n), dtype=np.float32)
        nodes = [helper.make_node("MatMul", ["A", "B"], ["C"])]
        a_type, c_type = TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "gemm",
        [helper.make_tensor_value_info("A", a_type, ["m", k])],
        [helper.make_tensor_value_info("C", c_type, ["m", n])],
        initializer=[numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])


def gemm_ort(m: int, k: int, n: int, threads: int, seconds: float, dtype: str = "fp32",
             warmup_s: float | None = None) -> GemmResult:
    """Sustained onnxruntime MatMul (fp32) or MatMulInteger (u8·s8→s32) rate at ``threads``."""
    import onnxruntime as ort

    session = _ort_session(k, n, threads, dtype)
    rng = np.random.default_rng(2)
    a: np.ndarray
    c: np.ndarray
    if dtype == "int8":
        a = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
        c = np.empty((m, n), dtype=np.int32)
    else:
        a = rng.standard_normal((m, k), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
    binding = session.io_binding()
    binding.bind_ortvalue_input("A", ort.OrtValue.ortvalue_from_numpy(a))
    binding.bind_ortvalue_output("C", ort.OrtValue.ortvalue_from_numpy(c))
    flops = 2.0 * m * k * n
    calls, elapsed, best = _loop(lambda: session.run_with_iobinding(binding), flops, seconds, warmup_s)
    return GemmResult("onnxruntime", dtype, m, k, n, threads, calls, round(elapsed, 3),
                      round(flops * calls / elapsed / 1e9, 2), round(flops / best / 1e9, 2))


def measure(
    *,
    threads: Sequence[int] = (1, 2),
    seconds: float = 2.0,
    hidden: int = 384,
    intermediate: int = 1536,
    tokens: int = 25,
    batch_rows: int = 1024,
    squares: Sequence[tuple[int, int, int]] = SQUARE_SHAPES,
    int8: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every shape x backend x thread count; return the rows and the limit per thread count.

    ``limit_gflops[threads]`` is the best sustained fp32 rate at that thread count (any shape, any
    backend); ``model_shape_gflops[threads]`` the best over the model's own shapes only (what a perfect
    runtime could reach on this model's matrices); ``single_post_gflops[threads]`` the best at the
    one-post row count (latency-bound work).
    """
    shapes = model_shapes(hidden, intermediate, tokens, batch_rows)
    rows: list[GemmResult] = []
    for t in threads:
        for m, k, n in [*shapes, *squares]:
            for fn in (gemm_numpy, gemm_ort):
                r = fn(m, k, n, t, seconds)
                rows.append(r)
                if log:
                    log(f"gemm {r.backend:<11} fp32 [{m}x{k}]x[{k}x{n}] threads={t}: {r.gflops:.1f} GFLOP/s")
        if int8:
            for m, k, n in [shapes[1], shapes[4], *squares[:1]]:
                r = gemm_ort(m, k, n, t, seconds, dtype="int8")
                rows.append(r)
                if log:
                    log(f"gemm onnxruntime int8 [{m}x{k}]x[{k}x{n}] threads={t}: {r.gflops:.1f} GOP/s")

    def best(pred: Callable[[GemmResult], bool]) -> dict[int, float]:
        return {t: max((r.gflops for r in rows if r.threads == t and pred(r)), default=0.0) for t in threads}

    model_set = set(shapes)
    return {
        "rows": [asdict(r) for r in rows],
        "limit_gflops": best(lambda r: r.dtype == "fp32"),
        "model_shape_gflops": best(lambda r: r.dtype == "fp32" and (r.m, r.k, r.n) in model_set),
        "single_post_gflops": best(lambda r: r.dtype == "fp32" and r.m == tokens),
        "int8_gops": best(lambda r: r.dtype == "int8"),
        "settings": {"seconds_per_shape": seconds, "hidden": hidden, "intermediate": intermediate,
                     "tokens": tokens, "batch_rows": batch_rows},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed.matmul", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per shape (default 2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--intermediate", type=int, default=1536)
    parser.add_argument("--tokens", type=int, default=25)
    parser.add_argument("--no-int8", action="store_true")
    args = parser.parse_args(argv)
    from bench.common import log

    result = measure(threads=args.threads, seconds=args.seconds, hidden=args.hidden,
                     intermediate=args.intermediate, tokens=args.tokens, int8=not args.no_int8, log=log)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

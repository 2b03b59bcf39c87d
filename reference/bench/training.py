"""`onionref bench`: milliseconds per training step of the paper's model, numba vs numpy vs torch, in one run.

A step is what stage 1 does 40,000 times: batch 256, every sequence of length 9 (so T = 9 encoder + 9 decoder
steps = 18), encode, teacher-forced decode, cross-entropy, backward, AdamW (lr 1e-3, wd 0.1); models.py
builds it for each backend (torch only if `import torch` works; it is never a dependency of onionref). Every
backend gets the same thread count and its own worker process (see models.py for why).

For each H, in turn for each backend: `warmup` untimed steps, then up to `steps` timed ones (fewer if that takes
more than `max_seconds`); the reported time is the median step. Achieved GFLOP/s use the nominal count
36·H²·B·T (T = 18: 12·H²·B·T forward and 24·H²·B·T backward for a GRU whose input projection is a GEMM), the
same count for every backend, against a float32 GEMM peak measured at the start with the same thread count.
The machine's load average is recorded before and after: the ratios within one run are what to compare.
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import time
from statistics import median

import numpy as np

from .models import B, BACKENDS, L, worker
from ..errors import UserError

T_TOTAL = 2 * L


def nominal_flops(hidden: int) -> float:
    """36·H²·B·T floating-point operations per training step (T = 18 encoder + decoder steps)."""
    return 36.0 * hidden * hidden * B * T_TOTAL


def measure_peak(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of an n×n float32 matmul with `threads` BLAS threads (NumPy's BLAS)."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)
    with threadpool_limits(threads, user_api="blas"):
        np.matmul(a, a, out=out)
        best = min(_timed(lambda: np.matmul(a, a, out=out)) for _ in range(repeats))
    return 2.0 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(hiddens, steps: int = 20, threads: int | None = None, backends=("numba", "numpy", "torch"),
        warmup: int = 3, max_seconds: float = 30.0, progress=None) -> dict:
    """Benchmark every backend at every H; returns a JSON-ready dict (see `format_table`)."""
    threads = threads or len(os.sched_getaffinity(0))
    backends = [b for b in backends if b != "torch" or importlib.util.find_spec("torch") is not None]
    result = {"threads": threads, "batch": B, "length": L, "steps_per_sequence": T_TOTAL,
              "flop_model": "36*H^2*B*T, T=18", "cpu_count": os.cpu_count(), "load_avg_before": os.getloadavg(),
              "sgemm_peak_gflops": measure_peak(threads), "rows": []}
    workers = _start_workers(backends, threads, result)
    try:
        for h in hiddens:
            row = {"hidden": h}
            for name, (conn, _) in workers.items():
                if progress:
                    progress(f"H={h} {name}")
                conn.send(((h,), warmup, steps, max_seconds))
                status, times = conn.recv()
                if status != "times":
                    raise UserError(f"bench: the {name} backend failed at --hidden {h}: {times}")
                ms = 1e3 * median(times)
                row[name] = {"ms": ms, "steps_timed": len(times), "gflops": nominal_flops(h) / (ms / 1e3) / 1e9}
            for other in ("torch", "numpy"):
                if other in row and "numba" in row:
                    row[f"{other}/numba"] = row[other]["ms"] / row["numba"]["ms"]
            result["rows"].append(row)
    finally:
        stop_workers(workers)
    result["load_avg_after"] = os.getloadavg()
    return result


def _start_workers(backends, threads: int, result: dict, suite: str = "train") -> dict:
    """One worker process per backend (spawned: a fresh interpreter); a backend that cannot start (torch absent
    or broken) is dropped and noted in result["skipped"]."""
    ctx = multiprocessing.get_context("spawn")
    started = {}
    for name in backends:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, name, threads, suite), daemon=True)
        proc.start()
        started[name] = (parent, proc)
    workers = {}
    for name, (conn, proc) in started.items():
        status, msg = conn.recv()
        if status == "ready":
            workers[name] = (conn, proc)
        else:
            result.setdefault("skipped", {})[name] = msg
    result["backends"] = list(workers)
    return workers


def stop_workers(workers: dict) -> None:
    for conn, proc in workers.values():
        conn.send(None)
        proc.join(timeout=10)


def format_table(res: dict) -> str:
    """The result as a text table: ms per step, speed-ups over torch and numpy, GFLOP/s and % of peak."""
    backs, peak = res["backends"], res["sgemm_peak_gflops"]
    head = ["H"] + [f"{b} ms" for b in backs] + [f"{o}/numba" for o in ("torch", "numpy") if o in backs and
                                                 "numba" in backs] + [f"{b} GF/s (%peak)" for b in backs]
    lines = [head]
    for row in res["rows"]:
        cells = [str(row["hidden"])] + [f"{row[b]['ms']:.2f}" for b in backs]
        cells += [f"{row[k]:.2f}x" for k in ("torch/numba", "numpy/numba") if k in row]
        cells += [f"{row[b]['gflops']:.1f} ({100 * row[b]['gflops'] / peak:.0f}%)" for b in backs]
        lines.append(cells)
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    text = "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in lines)
    la0, la1 = res["load_avg_before"], res["load_avg_after"]
    return (f"{text}\n\nms per training step (median), batch {res['batch']}, L {res['length']}, "
            f"{res['threads']} thread(s); GFLOP/s from the nominal {res['flop_model']} against a measured "
            f"float32 GEMM peak of {peak:.0f} GFLOP/s; load average {la0[0]:.2f} before, {la1[0]:.2f} after "
            f"on {res['cpu_count']} CPUs.")

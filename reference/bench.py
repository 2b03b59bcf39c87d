"""`onionref bench`: milliseconds per training step of the paper's model, numba vs numpy vs torch, in one run.

A step is what stage 1 does 40,000 times: batch 256, every sequence of length 9 (so T = 9 encoder + 9 decoder
steps = 18), encode, teacher-forced decode, cross-entropy, backward, AdamW (lr 1e-3, wd 0.1). All backends run in
this process with the same thread count:
    numba   gru_numba.loss_and_grads + adamw.step; its threads over batch chunks, BLAS pinned to 1 thread
    numpy   seq2seq.loss_and_grads + adamw.step; BLAS with `threads` threads
    torch   nn.Embedding + nn.GRU + nn.Linear + torch.optim.AdamW in float32, torch.set_num_threads(threads)
            (only if `import torch` works; torch is never a dependency of onionref)

Each (backend, H) cell: `warmup` untimed steps, then up to `steps` timed steps (fewer if the cell exceeds
`max_seconds`); the reported time is the median step. Achieved GFLOP/s use the nominal count
36·H²·B·T (T = 18: 12·H²·B·T forward and 24·H²·B·T backward for a GRU whose input projection is a GEMM), the
same count for every backend, against a float32 GEMM peak measured at the start with the same thread count.
The machine's load average is recorded before and after: the ratios within one run are what to compare.
"""
from __future__ import annotations

import os
import time
from statistics import median

import numpy as np

from . import adamw, seq2seq
from .tasks.repeat import make_batch

B, L, N_SYMBOLS = 256, 9, 30
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


def _batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    return make_batch(rng.integers(0, N_SYMBOLS, size=(B, L)), np.full(B, L), N_SYMBOLS)


def _numpy_like_step(loss_and_grads, hidden: int):
    """A step function of a NumPy-parameter backend: loss, gradients, AdamW."""
    params = seq2seq.init_params(hidden, N_SYMBOLS, N_SYMBOLS + 1, np.random.default_rng(0))
    state, cfg, batch = adamw.init_state(params), adamw.AdamWConfig(lr=1e-3, weight_decay=0.1), _batch()

    def step():
        _, grads, _ = loss_and_grads(params, batch)
        adamw.step(params, grads, state, cfg)
    return step


def numba_step(hidden: int, threads: int):
    from .cells import gru_numba

    gru_numba.set_threads(threads)
    gru_numba.pin_blas()
    return _numpy_like_step(gru_numba.loss_and_grads, hidden)


def numpy_step(hidden: int, threads: int):
    return _numpy_like_step(seq2seq.loss_and_grads, hidden)


def torch_step(hidden: int, threads: int):
    """The same model and step in PyTorch (CPU, float32)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    emb, gru = torch.nn.Embedding(N_SYMBOLS + 1, hidden), torch.nn.GRU(hidden, hidden)
    head = torch.nn.Linear(hidden, N_SYMBOLS)
    modules = torch.nn.ModuleList([emb, gru, head])
    opt = torch.optim.AdamW(modules.parameters(), lr=1e-3, weight_decay=0.1)
    batch = _batch()
    enc_in, dec_in = torch.from_numpy(batch.enc_in), torch.from_numpy(batch.dec_in)
    target = torch.from_numpy(batch.target)

    def step():
        opt.zero_grad(set_to_none=True)
        _, h = gru(emb(enc_in))                     # all sequences have length L: the last state is h_enc
        out, _ = gru(emb(dec_in), h)
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, N_SYMBOLS), target.reshape(-1))
        loss.backward()
        opt.step()
    return step


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # an absent or broken torch only removes the column
        return False
    return True


BACKENDS = {"numba": numba_step, "numpy": numpy_step, "torch": torch_step}


def time_cell(make_step, hidden: int, threads: int, steps: int, warmup: int, max_seconds: float) -> dict:
    """Median ms per step of one backend at one H (BLAS limited as the backend wants)."""
    from threadpoolctl import threadpool_limits

    blas_threads = 1 if make_step is numba_step else threads
    with threadpool_limits(blas_threads, user_api="blas"):
        step = make_step(hidden, threads)
        for _ in range(warmup):
            step()
        times, start = [], time.perf_counter()
        while len(times) < steps and (len(times) < 3 or time.perf_counter() - start < max_seconds):
            times.append(_timed(step))
    ms = 1e3 * median(times)
    return {"ms": ms, "steps_timed": len(times), "gflops": nominal_flops(hidden) / (ms / 1e3) / 1e9}


def run(hiddens, steps: int = 20, threads: int | None = None, backends=("numba", "numpy", "torch"),
        warmup: int = 3, max_seconds: float = 30.0, progress=None) -> dict:
    """Benchmark every backend at every H; returns a JSON-ready dict (see `format_table`)."""
    threads = threads or len(os.sched_getaffinity(0))
    backends = [b for b in backends if b != "torch" or torch_available()]
    result = {"threads": threads, "batch": B, "length": L, "steps_per_sequence": T_TOTAL,
              "flop_model": "36*H^2*B*T, T=18", "cpu_count": os.cpu_count(), "load_avg_before": os.getloadavg(),
              "sgemm_peak_gflops": measure_peak(threads), "backends": backends, "rows": []}
    for h in hiddens:
        row = {"hidden": h}
        for name in backends:
            if progress:
                progress(f"H={h} {name}")
            row[name] = time_cell(BACKENDS[name], h, threads, steps, warmup, max_seconds)
        for other in ("torch", "numpy"):
            if other in row and "numba" in row:
                row[f"{other}/numba"] = row[other]["ms"] / row["numba"]["ms"]
        result["rows"].append(row)
    result["load_avg_after"] = os.getloadavg()
    return result


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

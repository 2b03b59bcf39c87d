"""`onionref bench --alrnn`: ms per AL-RNN training step, Numba fast path vs NumPy reference vs torch CPU, in one run.

A step: M = 50 units (P = 5 ReLUs), T = 100 steps of the addition problem (K = 2), batch 128; forward through
time, read-out of the final state, MSE, BPTT, MAR (τ = 0.1 on 25 units), Adam. torch runs the same step with
autograd (imported only here, only if installed), timed twice: as torch runs by default ("torch", IEEE denormals)
and with `torch.set_flush_denormal(True)` ("torch-ftz"), as the Numba fast path runs (jit/denormals.py: the backward
pass's gradient decays into the denormal range, where every operation is microcode-slow). torch sets that flag for
the calling thread only, so with --threads > 1 its intra-op threads keep IEEE denormals. Every backend gets the same
thread count; the reported time is the median of the timed steps after `warmup` untimed ones, in wall-clock time
and in this process's CPU time (the CPU time of all its threads: with --threads 1 it is what a step costs however
busy the machine is, while the wall time on a shared machine also holds the waits for a core). The load average is
recorded before and after.
"""
from __future__ import annotations

import importlib.util
import os
import time
from statistics import median

import numpy as np

from .. import adamw
from ..cells import alrnn
from ..tasks import addition
from ..alrnn import mar, model

M, P, T, B, TAU, M_REG = 50, 5, 100, 128, 0.1, 25
BACKENDS = ("numba", "numpy", "torch")


def _ours(backend: str, threads: int):
    if backend == "numba":
        from ..cells import alrnn_numba
        alrnn_numba.pin_blas()
        alrnn_numba.set_threads(threads)
    params = alrnn.init(M, P, 2, 1, np.random.default_rng(0))
    trials = addition.make(B, T, np.random.default_rng(1))
    opt, cfg = adamw.init_state(params), adamw.AdamWConfig(lr=1e-3, weight_decay=0.0)

    def step():
        loss, grads, _ = model.loss_and_grads(params, trials, backend)
        mloss, cache = mar.mar_forward(params, TAU, M_REG)
        for k, g in mar.mar_backward(1.0, cache).items():
            grads[k] = grads[k] + g
        adamw.step(params, grads, opt, cfg)
        return loss + mloss
    return step


def _torch(threads: int, flush_denormals: bool = False):
    import torch

    torch.set_num_threads(threads)
    p = alrnn.init(M, P, 2, 1, np.random.default_rng(0))
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    trials = addition.make(B, T, np.random.default_rng(1))
    s, y = torch.tensor(trials.s), torch.tensor(trials.y[0])
    relu_units = torch.arange(M) >= M - P
    opt = torch.optim.Adam(list(tp.values()), lr=1e-3)

    def step():
        torch.set_flush_denormal(flush_denormals)   # per thread; switched off again below for the other backends
        try:
            return _step()
        finally:
            torch.set_flush_denormal(False)

    def _step():
        opt.zero_grad()
        abar = torch.cat([torch.zeros(M - P), tp["A"]])
        z = torch.zeros(B, M)
        for t in range(T):
            z = abar * z + torch.where(relu_units, torch.relu(z), z) @ tp["W"].T + s[t] @ tp["C"].T + tp["h"]
        loss = torch.mean((z @ tp["D"].T - y) ** 2)
        W = tp["W"][:M_REG]
        self_c = torch.diagonal(W) - 1
        off = W.pow(2).sum() - torch.diagonal(W).pow(2).sum()
        loss = loss + TAU * (self_c.pow(2).sum() + off + tp["h"][:M_REG].pow(2).sum())
        loss.backward()
        opt.step()
        return loss.item()
    return step


def run(threads: int | None = None, steps: int = 20, warmup: int = 3, backends=BACKENDS, progress=None) -> dict:
    threads = threads or len(os.sched_getaffinity(0))
    has_torch = importlib.util.find_spec("torch") is not None
    backends = [v for b in backends if b != "torch" or has_torch for v in ((b, "torch-ftz") if b == "torch" else (b,))]
    res = {"what": "AL-RNN training step", "M": M, "P": P, "T": T, "batch": B, "threads": threads,
           "load_avg_before": os.getloadavg(), "ms_per_step": {}, "cpu_ms_per_step": {}}
    for b in backends:
        if progress:
            progress(b)
        step = _torch(threads, b == "torch-ftz") if b.startswith("torch") else _ours(b, threads)
        for _ in range(warmup):
            step()
        times, cpu = [], []
        for _ in range(steps if b != "numpy" else max(3, steps // 4)):
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        res["ms_per_step"][b] = 1e3 * median(times)
        res["cpu_ms_per_step"][b] = 1e3 * median(cpu)
    ms = res["ms_per_step"]
    if "numba" in ms:
        res["speedup_vs_numba"] = {b: ms[b] / ms["numba"] for b in ms if b != "numba"}
    res["load_avg_after"] = os.getloadavg()
    return res


def format_table(res: dict) -> str:
    ms = res["ms_per_step"]
    cpu = res["cpu_ms_per_step"]
    lines = [f"AL-RNN step, M={res['M']} P={res['P']} T={res['T']} batch {res['batch']}, {res['threads']} threads, "
             f"load {res['load_avg_before'][0]:.1f}", "backend    ms/step   ×numba   cpu ms/step   ×numba"]
    for b, v in ms.items():
        ratio = f"{v / ms['numba']:6.2f}   {cpu[b]:11.2f}   {cpu[b] / cpu['numba']:6.2f}" if "numba" in ms else ""
        lines.append(f"{b:9s} {v:8.2f}   {ratio}")
    return "\n".join(lines)

"""`onionref bench --analyses`: ms per stage-2 step of every intervention and probe, numba vs numpy vs torch.

A step is what `onionref intervene` / `onionref probe` repeats 60,000 times (`analysis.train_step`): a batch of 256
of the method's training sequences (lengths uniform in 2..9, or all 9 for the linear interventions), the method's
random corruption, the frozen model's encoder, the method's forward and backward, the checked AdamW update.
The frozen model is a random seq2seq GRU of size H (the cost of a step does not depend on what the model learned).
The linear interventions' rotation does not start at its registration state X = −I (A = 0, where expm is nearly
free) but at `rotation_start(H)`, a trained-like one: the cost of expm and of its gradient grows with the number of
squarings and the Padé degree, which follow ‖A‖₁ in torch and a bound β ≥ ‖A‖₂ in onionref (expm.py).
X = −I + c·N with N strictly lower triangular, standard normal from a fixed seed, c such that
‖A‖₁ = ‖tril(X) − tril(X)ᵀ‖₁ = 1.2·√H (8.3 at H = 48, 27 at H = 512). Measured: the 36 linear and bigram
interventions of the paper sweep (H 48, 64, 128, 10,000 steps) end at 0.89–1.43·√H (mean 1.17·√H), and a
60,000-step linear intervention at H = 48 at 1.02·√H (weight decay holds it there); their ρ(A) is 1.6–2.6 and β
1.9–3.0, where this start has β = 2.3, 2.8, 3.0 at H = 48, 64, 128 (3.5 at 512). Both backends start from it.
    numba, numpy   onionref's own stage 2 with Frozen(backend=...)
    torch          torch_analyses.py: the same analysis as a competent PyTorch user writes it
Every (backend, thread count) runs in its own worker process (models.worker), as the training bench does.

Nominal FLOP per step (the fraction of a core's limit reported next to the times), with G = H²·B·T̄ (T̄ = the
mean length: 5.5, or 9 for the linear interventions) and the training bench's GRU convention (a step of one row costs
12H² forward, 12H² more for the gradient of its input state, 12H² more for its weight gradients):
    onion, onion-noscale      encode 12G + decode 12G + decode back to h0 12G                  + head 4·H·C·B·T̄
    linear (unigram)          the same, plus the rotation's GEMMs 14·B·H² (its expm and gradient are not counted)
    bigram                    as linear with two encoder passes (base and source): 48G + ...
    probe-linear, probe-mlp   encode 12G, then Linear(H, 9C) (and Linear(H, H)): 2·in·out·B forward, 4·in·out·B
                              backward
    probe-onion               encode 12G, then per position Linear(H, H) and Linear(H, C): 6·(H² + H·C)·B·T̄
    probe-gru-*               encode 12G, a GRU decoder with weight gradients 36G, head 6·H·C·B·T̄
"""
from __future__ import annotations

import itertools
import os

import numpy as np

from .. import adamw
from .training import _start_workers, measure_peak, stop_workers
from .models import B, L, N_SYMBOLS
from ..errors import UserError
from ..onion import methods, seq2seq
from ..onion.analysis import train_step
from ..onion.frozen import Frozen
from ..tasks.repeat import epoch_batches

# `intervene --mode M` is timed as "M", `probe --kind K` as "probe-K"
ANALYSES = methods.INTERVENTIONS + tuple("probe-" + k for k in methods.PROBES)
CAYLEY = ("linear-cayley", "bigram-cayley")  # --orthogonal-map cayley; timed only when named in --methods
N_POOL = 4096  # sequences the batches are drawn from
START_NORM = 1.2  # ‖A‖₁ / √H of the rotation's start state (module docstring)


def method_of(name: str):
    if name in CAYLEY:
        return methods.intervention(name[:-len("-cayley")], 2, "cayley")
    return methods.probe(name[len("probe-"):]) if name.startswith("probe-") else methods.intervention(name)


def _full_length(name: str) -> bool:
    """The linear interventions train on length-9 sequences only."""
    return name in ("linear", "bigram") + CAYLEY


def mean_length(name: str) -> float:
    return float(L) if _full_length(name) else (2 + L) / 2


def sequences(name: str, seed: int = 0):
    """(tokens [N, L], lengths [N]) of random sequences shaped like the method's training set."""
    rng = np.random.default_rng([seed, 1])
    lengths = np.full(N_POOL, L) if _full_length(name) else rng.integers(2, L + 1, N_POOL)
    tokens = rng.integers(0, N_SYMBOLS, (N_POOL, L))
    return np.where(np.arange(L)[None, :] < lengths[:, None], tokens, 0), lengths.astype(np.int64)


def nominal_flops(name: str, hidden: int) -> float:
    """Nominal floating-point operations of one analysis step (see the module docstring)."""
    H, C, T = hidden, N_SYMBOLS, mean_length(name)
    G = H * H * B * T
    head = 4 * H * C * B * T
    if name in ("onion", "onion-noscale", "onion-free", "onion-from-end"):
        return 36 * G + head
    if name in ("linear", "linear-cayley"):
        return 36 * G + head + 14 * B * H * H
    if name in ("bigram", "bigram-cayley"):
        return 48 * G + head + 14 * B * H * H
    if name in ("probe-linear", "probe-mlp"):
        out = 6 * H * C * L * B
        return 12 * G + out + (6 * H * H * B if name == "probe-mlp" else 0)
    if name == "probe-onion":
        return 12 * G + 6 * (H * H + H * C) * B * T
    return 48 * G + 6 * H * C * B * T


def rotation_start(hidden: int) -> np.ndarray:
    """X [H, H] float32 of the linear interventions' rotation at the trained-like ‖A‖₁ = 1.2·√H (module docstring)."""
    N = np.tril(np.random.default_rng([0, 4]).standard_normal((hidden, hidden)), -1)
    A = N - N.T
    return (N * (START_NORM * np.sqrt(hidden) / np.abs(A).sum(axis=0).max()) - np.eye(hidden)).astype(np.float32)


def start_params(method, frozen):
    """(params, buffers) of the timed analysis: its own init, with the rotation (if any) at rotation_start."""
    params, buffers = method.init(frozen, np.random.default_rng([0, 2]))
    if "X" in params:
        params["X"] = rotation_start(frozen.hidden)
    return params, buffers


def onionref_step(backend: str, hidden: int, name: str, threads: int):
    """One stage-2 step of onionref's own `backend` (numba or numpy), as `analysis.run` takes it."""
    if backend == "numba":
        from ..cells import gru_numba
        gru_numba.set_threads(threads)
        gru_numba.pin_blas()
    model = seq2seq.init_params(hidden, N_SYMBOLS, N_SYMBOLS + 1, np.random.default_rng(0))
    frozen = Frozen(model, N_SYMBOLS, False, backend)
    method = method_of(name)
    params, buffers = start_params(method, frozen)
    opt, cfg = adamw.init_state(params), adamw.AdamWConfig(lr=1e-3, weight_decay=0.1)
    tokens, lengths = sequences(name)
    batches, counter = epoch_batches(len(lengths), B, 0), itertools.count(1)

    def step():
        idx = next(batches)
        _, what = train_step(method, params, buffers, frozen, tokens[idx], lengths[idx],
                             np.random.default_rng([0, 3, next(counter)]), opt, cfg)
        if what is not None:
            raise RuntimeError(f"{what} is not finite")
    return step


def torch_step(hidden: int, name: str, threads: int):
    from .torch_analyses import make_step
    return make_step(hidden, name, threads)


BACKENDS = {"numba": lambda h, n, t: onionref_step("numba", h, n, t),
            "numpy": lambda h, n, t: onionref_step("numpy", h, n, t), "torch": torch_step}


def run(hiddens, analyses=ANALYSES, thread_counts=None, steps: int = 20, backends=("numba", "numpy", "torch"),
        warmup: int = 3, max_seconds: float = 20.0, rounds: int = 3, progress=None) -> dict:
    """Time every analysis at every H with every backend, once per thread count (default: 1 and all CPUs).

    The backends take turns: `rounds` rounds of about steps/rounds timed steps each (after `warmup` untimed ones),
    so a change in the machine's load during a row reaches every backend alike. Reported per backend: the median
    and the minimum step time (on a shared machine the minimum is the least disturbed), ratios of both."""
    import importlib.util
    from statistics import median

    n_cpu = len(os.sched_getaffinity(0))
    thread_counts = thread_counts or sorted({1, n_cpu})
    backends = [b for b in backends if b != "torch" or importlib.util.find_spec("torch") is not None]
    res = {"batch": B, "length": L, "cpu_count": os.cpu_count(), "load_avg_before": os.getloadavg(),
           "sgemm_peak_gflops": {}, "rows": [], "backends": backends}
    per_round = max(1, -(-steps // rounds))
    for threads in thread_counts:
        res["sgemm_peak_gflops"][str(threads)] = peak = measure_peak(threads)
        workers = _start_workers(backends, threads, res, suite="analyses")
        try:
            for h, name in itertools.product(hiddens, analyses):
                row = {"threads": threads, "hidden": h, "analysis": name, "mflop": nominal_flops(name, h) / 1e6}
                times = {b: [] for b in workers}
                for r in range(rounds):
                    for backend, (conn, _) in workers.items():
                        if progress:
                            progress(f"{name} H={h} {backend} {threads} thread(s), round {r + 1}/{rounds}")
                        conn.send(((h, name), warmup if r == 0 else 1, per_round, max_seconds / rounds))
                        status, got = conn.recv()
                        if status != "times":
                            raise UserError(f"bench: {backend} failed on {name} at --hidden {h}: {got}")
                        times[backend] += got
                for backend, t in times.items():
                    ms = 1e3 * median(t)
                    row[backend] = {"ms": ms, "ms_min": 1e3 * min(t), "steps_timed": len(t),
                                    "peak_fraction": nominal_flops(name, h) / (ms / 1e3) / (peak * 1e9)}
                for other in ("torch", "numpy"):
                    if other in row and "numba" in row:
                        row[f"{other}/numba"] = row[other]["ms"] / row["numba"]["ms"]
                        row[f"{other}/numba_min"] = row[other]["ms_min"] / row["numba"]["ms_min"]
                res["rows"].append(row)
        finally:
            stop_workers(workers)
    res["backends"] = [b for b in backends if b not in res.get("skipped", {})]
    res["load_avg_after"] = os.getloadavg()
    return res


def format_table(res: dict) -> str:
    """One line per (threads, H, analysis): median ms per step of each backend, speed-ups over numba (of the medians,
    and of the minima in brackets), numba's fraction of the GEMM peak."""
    backs = res["backends"]
    ratios = [o for o in ("torch", "numpy") if o in backs and "numba" in backs]
    head = ["thr", "H", "analysis", "MFLOP"] + [f"{b} ms" for b in backs] + [f"{o}/numba (min)" for o in ratios] + \
           [f"{b} %peak" for b in backs]
    lines = [head]
    for r in res["rows"]:
        cells = [str(r["threads"]), str(r["hidden"]), r["analysis"], f"{r['mflop']:.0f}"]
        cells += [f"{r[b]['ms']:.2f}" for b in backs]
        cells += [f"{r[o + '/numba']:.2f}x ({r[o + '/numba_min']:.2f}x)" for o in ratios]
        cells += [f"{100 * r[b]['peak_fraction']:.0f}%" for b in backs]
        lines.append(cells)
    widths = [max(len(x[i]) for x in lines) for i in range(len(head))]
    text = "\n".join("  ".join(c.rjust(w) for c, w in zip(x, widths)) for x in lines)
    peaks = ", ".join(f"{v:.0f} GFLOP/s on {k} thread(s)" for k, v in res["sgemm_peak_gflops"].items())
    la0, la1 = res["load_avg_before"], res["load_avg_after"]
    return (f"{text}\n\nms per analysis step (median), batch {res['batch']}; %peak: the nominal FLOP per step "
            f"against a measured float32 GEMM peak ({peaks}); load average {la0[0]:.2f} before, {la1[0]:.2f} "
            f"after on {res['cpu_count']} CPUs.")

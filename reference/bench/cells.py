"""`onionref bench --cells`: milliseconds per training step of the repeat model with each cell, numpy vs numba.

A step is stage 1's loss and gradients (no optimizer): batch 256, lengths drawn uniformly from 2..9 (T = the batch's
longest, 9), 30 symbols, the autoregressive decoder, the functions `onionref train` calls (backends.loss_and_grads_fn:
cells/gru_numba.py for the GRU, cells/seq_numba.py for the others). Both backends run in this process on one
thread (the numba path pins BLAS to one thread for the whole process, so a multi-threaded NumPy could not be timed
beside it), interleaved: `rounds` rounds of `steps` timed steps each, after one untimed step; the reported time is the
median of the rounds' medians, so a load that comes and goes on a shared machine hits both backends alike.
"""
from __future__ import annotations

import os
import time
from statistics import median

import numpy as np

CELLS = ("gru", "lstm", "elman", "elman-relu", "linear", "alrnn-p4")
B, MIN_LEN, MAX_LEN, SYMBOLS = 256, 2, 9, 30


def _batch(rng):
    from ..tasks.repeat import make_batch
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=B)
    return make_batch(rng.integers(0, SYMBOLS, size=(B, MAX_LEN)), lengths, SYMBOLS, False)


def _median_ms(fn, steps: int) -> float:
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * median(times)


def run(hiddens, cells=CELLS, steps: int = 10, rounds: int = 3, progress=None) -> dict:
    """Time every cell (a sweep --cells entry) at every H on numpy and numba; a JSON-ready dict (`format_table`)."""
    from ..cells.choice import cell_of
    from ..jit.threads import get_threads, set_threads
    from ..onion import seq2seq
    from ..onion.sweep import cell_config
    from ..onion.backends import loss_and_grads_fn
    from ..tasks.repeat import vocab_size

    old = get_threads()
    set_threads(1)
    result = {"threads": 1, "batch": B, "lengths": [MIN_LEN, MAX_LEN], "rounds": rounds, "steps_per_round": steps,
              "cpu_count": os.cpu_count(), "load_avg_before": os.getloadavg(), "rows": []}
    try:
        for h in hiddens:
            for cell in cells:
                name, nonlinearity, P = cell_config(cell, h)
                if progress:
                    progress(f"H={h} {cell}")
                rng = np.random.default_rng(0)
                params = seq2seq.init_params(h, SYMBOLS, vocab_size(SYMBOLS, False), rng,
                                             cell=cell_of(name, nonlinearity, P))
                batch = _batch(rng)
                fns = {b: loss_and_grads_fn(b, name, nonlinearity, P) for b in ("numpy", "numba")}
                per = {b: [] for b in fns}
                for b, fn in fns.items():
                    fn(params, batch)   # compile / warm up
                for _ in range(rounds):
                    for b, fn in fns.items():
                        per[b].append(_median_ms(lambda: fn(params, batch), steps))
                row = {"hidden": h, "cell": cell, **{b: median(v) for b, v in per.items()}}
                row["numpy/numba"] = row["numpy"] / row["numba"]
                result["rows"].append(row)
    finally:
        set_threads(old)
    result["load_avg_after"] = os.getloadavg()
    return result


def format_table(res: dict) -> str:
    lines = [["H", "cell", "numpy ms", "numba ms", "numpy/numba"]]
    for r in res["rows"]:
        lines.append([str(r["hidden"]), r["cell"], f"{r['numpy']:.2f}", f"{r['numba']:.2f}",
                      f"{r['numpy/numba']:.1f}x"])
    widths = [max(len(x[i]) for x in lines) for i in range(len(lines[0]))]
    text = "\n".join("  ".join(c.rjust(w) for c, w in zip(x, widths)) for x in lines)
    la0, la1 = res["load_avg_before"], res["load_avg_after"]
    return (f"{text}\n\nms per training step (loss and gradients), batch {res['batch']}, lengths "
            f"{res['lengths'][0]}..{res['lengths'][1]}, 1 thread, median of {res['rounds']} interleaved rounds of "
            f"{res['steps_per_round']} steps; load average {la0[0]:.2f} before, {la1[0]:.2f} after on "
            f"{res['cpu_count']} CPUs.")

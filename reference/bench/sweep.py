"""`onionref bench --sweep`: how the sweep scales with workers, and what the engine costs per cell.

For each worker count N (and threads per job) the same fixed grid is swept into a fresh directory on a new
LocalCluster; `small` is 4 cells × 2 analyses at H 16, `large` one H 256 GRU and 7 analyses (a lone training, then
fewer jobs than cores at the end: what `--threads-per-job` is for):
    wall_s        the whole sweep, cluster start included (what a user waits for)
    startup_s     starting the LocalCluster of N workers
    busy_s        Σ over jobs of the time each job ran inside its worker (measured there)
    cpu_s         Σ over jobs of the CPU time each job used (busy_s well above cpu_s: the workers waited for a core)
    overhead_per_cell_s = (N · (wall_s − startup_s) − busy_s) / cells
                  the worker time not spent in a job: submission, transfer, results, and workers idle while a
                  cell's analyses wait for its training or the last jobs finish (an upper bound on scheduling cost)
The speed-up of N workers is wall_s(1) / wall_s(N); the 1-minute load average after each sweep is reported beside it
(on a machine shared with other work, workers compete for the cores and the speed-up shrinks). A warm-up training run first fills Numba's on-disk cache, so no
worker count pays the cold compile.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from ..sweep.engine import connect, run_jobs
from ..onion import sweep

GRID = dict(hidden=(16,), variants=("ar", "noinput"), seeds=2, analyses=("onion", "probe-linear"))
# `--grid large`: one large GRU and the analyses of the paper's tables: fewer jobs than cores for the whole training
LARGE = dict(hidden=(256,), variants=("ar",), seeds=1, analyses=("linear", "bigram", "onion", "onion-noscale",
                                                                 "probe-linear", "probe-mlp", "probe-onion"))
GRIDS = {"small": (GRID, 64), "large": (LARGE, 256)}      # grid, batch


def _warm_up(tmp: Path, budget: sweep.Budget, grid: dict) -> None:
    """Fill Numba's cache: a 2-step training and a 2-step run of every analysis of the grid, at its hidden size."""
    small = sweep.Budget(**{**asdict(budget), "train_steps": 2, "analysis_steps": 2, "eval_every": 1})
    jobs = sweep.plan(tmp / "warm-up", [(grid["hidden"][0], "ar", 0)], list(grid["analyses"]), small)
    run_jobs(jobs, workers=1, progress=False)


def measure(workers: int, budget: sweep.Budget, out: Path, grid: dict = GRID, threads_per_job: int = 1) -> dict:
    """One sweep of `grid` into the new directory `out` on a new LocalCluster of `workers` processes, every job on
    `threads_per_job` threads."""
    cells = [(h, v, s) for h in grid["hidden"] for v in grid["variants"] for s in range(grid["seeds"])]
    jobs = sweep.plan(out, cells, list(grid["analyses"]), budget)
    timings: dict = {}
    t0 = time.perf_counter()
    with connect(workers=workers, threads_per_job=threads_per_job) as client:
        startup = time.perf_counter() - t0
        run_jobs(jobs, client=client, progress=False, timings=timings, threads_per_job=threads_per_job)
        wall = time.perf_counter() - t0
    busy = sum(t["end"] - t["start"] for t in timings.values())
    return {"workers": workers, "threads_per_job": threads_per_job, "cells": len(cells), "jobs": len(jobs),
            "wall_s": wall, "startup_s": startup, "busy_s": busy, "cpu_s": sum(t["cpu"] for t in timings.values()),
            "overhead_per_cell_s": (workers * (wall - startup) - busy) / len(cells),
            "worker_pids": len({t["pid"] for t in timings.values()}),
            "load_avg_1min": os.getloadavg()[0]}     # other work on the machine skews every number above


def run(worker_counts=(1, 2), train_steps: int = 1000, analysis_steps: int = 300, progress=None,
        threads=None, grid: str = "small") -> dict:
    """The fixed grid at every worker count (with `threads`[i] threads per job, default 1); the wall time of each
    row against the first."""
    threads = list(threads or [1] * len(worker_counts))
    g, batch = GRIDS[grid]
    budget = sweep.Budget(train_steps=train_steps, analysis_steps=analysis_steps, batch=batch, eval_every=250,
                          n_train=20_000)
    with tempfile.TemporaryDirectory(prefix="onionref-bench-sweep-") as tmp:
        _warm_up(Path(tmp), budget, g)
        rows = []
        for i, (n, t) in enumerate(zip(worker_counts, threads)):
            if progress:
                progress(f"{n} worker{'s' if n > 1 else ''} x {t} thread{'s' if t > 1 else ''}")
            rows.append(measure(n, budget, Path(tmp) / f"sweep{i}-w{n}-t{t}", g, t))
    for r in rows:
        r["wall_vs_first"] = r["wall_s"] / rows[0]["wall_s"]
    return {"grid": {**g, "name": grid, "budget": asdict(budget)}, "rows": rows}


def format_table(res: dict) -> str:
    g = res["grid"]
    lines = [f"grid: hidden {list(g['hidden'])} x {list(g['variants'])} x {g['seeds']} seeds, analyses "
             f"{list(g['analyses'])}; {g['budget']['train_steps']} training / {g['budget']['analysis_steps']} "
             f"analysis steps, batch {g['budget']['batch']}, backend {g['budget']['backend']}",
             f"{'workers':>8}{'threads':>8}{'wall s':>9}{'startup s':>11}{'busy s':>9}{'cpu s':>8}{'overhead/cell s':>17}"
             f"{'wall / 1st':>12}"
             f"{'load avg':>10}"]
    for r in res["rows"]:
        lines.append(f"{r['workers']:>8}{r.get('threads_per_job', 1):>8}{r['wall_s']:>9.1f}{r['startup_s']:>11.1f}{r['busy_s']:>9.1f}{r['cpu_s']:>8.1f}"
                     f"{r['overhead_per_cell_s']:>17.2f}{r['wall_vs_first']:>12.2f}{r['load_avg_1min']:>10.1f}")
    return "\n".join(lines)

"""`onionref bench`: the one benchmark command, each measurement in one run so that ratios are comparable.

    onionref bench                 ms per GRU training step: numba, numpy, torch (reference/bench/training.py)
    onionref bench --analyses      ms per stage-2 step of every intervention and probe, 1 thread and all (analyses.py)
    onionref bench --alrnn         ms per AL-RNN training step, M 50, T 100, batch 128 (reference/bench/alrnn.py)
    onionref bench --cells         ms per training step of the repeat model with each cell, numpy vs numba, 1 thread
                                   (reference/bench/cells.py)
    onionref bench --sweep         a fixed small sweep at 1 and 2 Dask workers: speed-up, overhead per cell (sweep.py);
                                   --grid large --workers 2,1 --threads-per-job 1,2: one H 256 GRU and 7 analyses
"""
from __future__ import annotations

import os

import click

from onionref.cli import cli, lists
from onionref.errors import UserError
from onionref.runs import to_json

DEFAULT_HIDDEN = "48,64,128,256,512,1024"
DEFAULT_HIDDEN_ANALYSES = "48,128,512"
DEFAULT_HIDDEN_CELLS = "48,128"
MAX_THREADS = 4 * (os.cpu_count() or 1)


@cli.command("bench")
@click.option("--analyses", is_flag=True, help="Time stage-2 steps (every intervention and probe), not training.")
@click.option("--alrnn", is_flag=True, help="Time the AL-RNN training step (M 50, T 100, batch 128).")
@click.option("--cells", "cells", default=None,
              help="Time the training step of these cells (sweep --cells names, comma-separated, or 'all': gru, lstm, "
                   "elman, elman-relu, linear, alrnn-p4), numpy vs numba on 1 thread.")
@click.option("--sweep", is_flag=True, help="Time a fixed small sweep (4 cells x 2 analyses, H 16) per worker count.")
@click.option("--hidden", default=None, help=f"Hidden sizes, comma-separated [default: {DEFAULT_HIDDEN}; "
                                             f"with --analyses {DEFAULT_HIDDEN_ANALYSES}; "
                                             f"with --cells {DEFAULT_HIDDEN_CELLS}].")
@click.option("--steps", type=int, default=20, show_default=True, help="Timed steps per backend and size.")
@click.option("--threads", type=int, default=None,
              help="Threads for every backend [default: all CPUs; with --analyses both 1 and all CPUs].")
@click.option("--backends", default="numba,numpy,torch", show_default=True,
              help="Backends to time (torch is skipped when it cannot be imported).")
@click.option("--max-seconds", type=float, default=30.0, show_default=True,
              help="Stop timing a backend at one size after this many seconds (at least 3 steps).")
@click.option("--methods", default=None, help="With --analyses: the analyses to time, comma-separated [default: all; "
                                             "linear-cayley, bigram-cayley only when named].")
@click.option("--workers", default=None, help="With --sweep: worker counts to compare, comma-separated [default: 1,2].")
@click.option("--threads-per-job", "threads_per_job", default=None,
              help="With --sweep: threads per job for each --workers entry, comma-separated [default: 1 each].")
@click.option("--grid", type=click.Choice(["small", "large"]), default=None,
              help="With --sweep: small (4 cells x 2 analyses, H 16) or large (one H 256 GRU, 7 analyses) "
                   "[default: small].")
@click.option("--train-steps", type=int, default=None, help="With --sweep: training steps per cell [default: 1000].")
@click.option("--analysis-steps", type=int, default=None, help="With --sweep: steps per analysis [default: 300].")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON line.")
def bench_cmd(analyses, alrnn, cells, sweep, hidden, steps, threads, backends, max_seconds, methods, workers,
              threads_per_job, grid, train_steps, analysis_steps, as_json):
    """Milliseconds per training step (batch 256, L 9, AdamW) of each backend, with speed-ups and GFLOP/s; with
    --analyses per stage-2 step, with --alrnn per AL-RNN step, with --sweep the sweep engine's scaling."""
    if analyses + alrnn + sweep + (cells is not None) > 1:
        raise UserError("choose one of --analyses, --alrnn, --cells, --sweep")
    only = {"--methods": (methods, analyses), "--hidden": (hidden, not (alrnn or sweep)),
            "--workers": (workers, sweep), "--threads-per-job": (threads_per_job, sweep), "--grid": (grid, sweep),
            "--train-steps": (train_steps, sweep),
            "--analysis-steps": (analysis_steps, sweep), "--threads": (threads, cells is None)}
    for flag, (value, allowed) in only.items():
        if value is not None and not allowed:
            raise UserError(f"{flag} does not apply here (see onionref bench --help)")
    if steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}")
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise UserError(f"--threads must be in 1..{MAX_THREADS}, got {threads}")
    if not max_seconds > 0:
        raise UserError(f"--max-seconds must be positive, got {max_seconds}")
    progress = None if as_json else (lambda msg: click.echo(f"timing {msg} ...", err=True))
    if sweep:
        res, table = _sweep(workers or "1,2", threads_per_job, grid or "small",
                            1000 if train_steps is None else train_steps,
                            300 if analysis_steps is None else analysis_steps, progress)
    elif cells is not None:
        from onionref.bench import cells as suite
        from onionref.onion.sweep import cell_config
        names = lists.names(",".join(suite.CELLS) if cells == "all" else cells, "--cells")
        hs = lists.ints(hidden or DEFAULT_HIDDEN_CELLS, "--hidden", lo=1, hi=4096)
        for name in names:
            for h in hs:
                P = cell_config(name, h)[2]
                if P is not None and P > h:
                    raise UserError(f"--cells {name}: --P must be in 0..{h} (--hidden), got {P}")
        res = suite.run(hs, names, steps=steps, progress=progress)
        table = suite.format_table
    elif alrnn:
        from onionref.bench import alrnn as suite
        res = suite.run(threads=threads, steps=steps, backends=lists.names(backends, "--backends", suite.BACKENDS),
                        progress=progress)
        table = suite.format_table
    elif analyses:
        from onionref.bench import analyses as suite
        res = suite.run(lists.ints(hidden or DEFAULT_HIDDEN_ANALYSES, "--hidden", lo=1, hi=4096),
                        lists.names(methods or ",".join(suite.ANALYSES), "--methods", suite.ANALYSES + suite.CAYLEY),
                        [threads] if threads else None, steps=steps,
                        backends=lists.names(backends, "--backends", ("numba", "numpy", "torch")),
                        max_seconds=max_seconds, progress=progress)
        table = suite.format_table
    else:
        from onionref.bench import training as suite
        res = suite.run(lists.ints(hidden or DEFAULT_HIDDEN, "--hidden", lo=1, hi=4096), steps=steps, threads=threads,
                        backends=lists.names(backends, "--backends", suite.BACKENDS), max_seconds=max_seconds,
                        progress=progress)
        table = suite.format_table
    click.echo(to_json(res) if as_json else table(res))


def _sweep(counts: str, threads: str | None, grid: str, train_steps: int, analysis_steps: int, progress):
    from onionref.bench import sweep as suite

    ns = lists.ints(counts, "--workers", lo=1, hi=MAX_THREADS, keep_repeats=True)
    ts = (lists.ints(threads, "--threads-per-job", lo=1, hi=MAX_THREADS, keep_repeats=True) if threads is not None
          else [1] * len(ns))
    if len(ts) != len(ns):
        raise UserError(f"--threads-per-job needs one count per --workers entry ({len(ns)}), got {len(ts)}")
    for flag, v in (("--train-steps", train_steps), ("--analysis-steps", analysis_steps)):
        if v < 1:
            raise UserError(f"{flag} must be >= 1, got {v}")
    progress_sweep = progress and (lambda msg: progress(f"a sweep on {msg}"))
    return suite.run(ns, train_steps=train_steps, analysis_steps=analysis_steps, progress=progress_sweep,
                     threads=ts, grid=grid), suite.format_table

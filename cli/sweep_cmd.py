"""`onionref sweep`: the onion paper's grid (hidden × variant × seed, every analysis; × cell, issue 22) on Dask."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli, lists
from onionref.errors import UserError
from onionref.onion.sweep import ANALYSES, VARIANTS, Budget, run_sweep
from onionref.runs import to_json
from onionref.tasks.access import TASKS

D = Budget()


@cli.command("sweep")
@click.option("--hidden", default="48", show_default=True, help="Hidden sizes, comma-separated (48,64,128).")
@click.option("--seeds", type=int, default=1, show_default=True, help="Seeds per cell: 0..N-1.")
@click.option("--variants", default="ar", show_default=True, help=f"Decoder variants: {', '.join(VARIANTS)}.")
@click.option("--cells", default="gru", show_default=True,
              help="Recurrent cells, comma-separated: gru, lstm, elman, elman-relu, linear, alrnn-p<N> (an AL-RNN "
                   "with N ReLU units, e.g. alrnn-p4) or alrnn-pH (P = the hidden size), an AL-RNN with -uniform appended "
                   "for torch's uniform init (alrnn-p4-uniform). A GRU cell's directory is "
                   "h<H>-<variant>-s<seed>, another's h<H>-<variant>-<cell>-s<seed> (alrnn-pH: alrnn-p<H>).")
@click.option("--analyses", default="all", show_default=True,
              help=f"all, or comma-separated from: {', '.join(ANALYSES)}.")
@click.option("--train-steps", type=int, default=D.train_steps, show_default=True, help="Training steps per cell.")
@click.option("--analysis-steps", type=int, default=D.analysis_steps, show_default=True, help="Steps per analysis.")
@click.option("--extend-rising-to", type=int, default=None,
              help="Resume every analysis still rising at --analysis-steps (its score rose by more than 0.01 over "
                   "the last 20 % of the steps) up to this many steps [default: no extension].")
@click.option("--batch", type=int, default=D.batch, show_default=True, help="Sequences per step (all jobs).")
@click.option("--eval-every", type=int, default=D.eval_every, show_default=True, help="Validate/checkpoint every N.")
@click.option("--n-train", type=int, default=D.n_train, show_default=True, help="Training-set size.")
@click.option("--backend", type=click.Choice(["numba", "numpy"]), default=D.backend, show_default=True,
              help="numba: the fast path (every cell has one); numpy: the reference.")
@click.option("--task", type=click.Choice(TASKS), default=D.task, show_default=True,
              help="The task every GRU of the sweep is trained on (one task per sweep directory; recorded in its "
                   "budget).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Sweep directory.")
@click.option("--workers", type=int, default=None,
              help="Local worker processes, one job each at a time [default: one per --threads-per-job cores].")
@click.option("--threads-per-job", type=int, default=1, show_default=True,
              help="Threads each job's fast path runs on (batch chunks; recorded in its config.json). With fewer "
                   "jobs than cores (a lone large GRU, the last analyses), 1 worker x 2 threads keeps 2 cores busy.")
@click.option("--scheduler", default=None, help="Run on a running Dask cluster: tcp://HOST:PORT.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_cmd(hidden, seeds, variants, cells, analyses, out, workers, threads_per_job, extend_rising_to, scheduler,
              as_json, quiet, **budget):
    """Train every model of the grid once, then run every chosen analysis on it; resumable and idempotent."""
    if workers is not None and scheduler is not None:
        raise UserError("--workers and --scheduler exclude each other (a running cluster has its own workers)")
    res = run_sweep(out, hidden=lists.ints(hidden, "--hidden", allow_empty=True),
                    variants=lists.names(variants, "--variants"), cells=lists.names(cells, "--cells"), seeds=seeds,
                    analyses=lists.names(analyses, "--analyses"), workers=workers, scheduler=scheduler, progress=not quiet,
                    threads_per_job=threads_per_job, extend_rising_to=extend_rising_to, **budget)
    if as_json:
        click.echo(to_json(res))
        return
    for cell, results in res["cells"].items():
        scores = "  ".join(f"{k}={v.get('iia', v.get('accuracy')):.3f}" for k, v in results.items())
        click.echo(f"{cell}: {scores}")
    click.echo(f"done: {res['jobs']} jobs in {res['wall_s']:.1f} s; results in {out}")

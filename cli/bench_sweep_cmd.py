"""`onionref bench-sweep`: the sweep's wall time at 1 and 2 workers on a fixed small grid, and its overhead per cell."""
from __future__ import annotations

import os

import click

from onionref.cli import cli
from onionref.errors import UserError
from onionref.runs import to_json


@cli.command("bench-sweep")
@click.option("--workers", "counts", default="1,2", show_default=True, help="Worker counts to compare, comma-separated.")
@click.option("--train-steps", type=int, default=1000, show_default=True, help="Training steps per cell.")
@click.option("--analysis-steps", type=int, default=300, show_default=True, help="Steps per analysis.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON line.")
def bench_sweep_cmd(counts, train_steps, analysis_steps, as_json):
    """Sweep a fixed grid (4 cells x 2 analyses, H = 16) on a LocalCluster of each worker count; report wall time,
    the time jobs ran, and the scheduling overhead per cell."""
    from onionref.onion import sweep_bench

    try:
        ns = [int(x) for x in counts.split(",")]
    except ValueError:
        raise UserError(f"--workers must be comma-separated integers, got {counts!r}") from None
    limit = 4 * (os.cpu_count() or 1)
    if not ns or any(not 1 <= n <= limit for n in ns):
        raise UserError(f"--workers takes counts in 1..{limit}, got {counts!r}")
    for flag, v in (("--train-steps", train_steps), ("--analysis-steps", analysis_steps)):
        if v < 1:
            raise UserError(f"{flag} must be >= 1, got {v}")
    progress = None if as_json else (lambda msg: click.echo(f"sweeping on {msg} ...", err=True))
    res = sweep_bench.run(ns, train_steps=train_steps, analysis_steps=analysis_steps, progress=progress)
    click.echo(to_json(res) if as_json else sweep_bench.format_table(res))

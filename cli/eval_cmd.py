"""`onionref eval RUN`: exact-match accuracy of a trained run on every validation set."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli
from onionref.runs import to_json
from onionref.cells.choice import CELLS
from onionref.onion.train import evaluate_run, load_run

__all__ = ["eval_cmd", "load_run"]


@cli.command("eval")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--query", type=int, default=None,
              help="Lookup runs: ask every sequence for this 0-based position (sequences that have it) instead of "
                   "the sets' random queries.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON line.")
def eval_cmd(run, query, as_json):
    """Exact-match accuracy of RUN on every validation set (lookup: of the one queried token)."""
    cfg, params = load_run(run, cells=CELLS, what="eval")
    results = evaluate_run(cfg, params, query=query)
    if as_json:
        click.echo(to_json({"run": str(run), "sets": results}))
        return
    click.echo(f"{'set':<26}{'n':>6}{'accuracy':>10}{'loss':>9}   per length")
    for name, r in results.items():
        per = " ".join(f"{L}:{a:.2f}" for L, a in r["per_length"].items())
        click.echo(f"{name:<26}{r['n']:>6}{r['accuracy']:>10.4f}{r['loss']:>9.4f}   {per}")

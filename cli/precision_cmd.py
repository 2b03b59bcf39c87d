"""`onionref precision RUN`: exact match in bfloat16 / float16 / float32 / float64 and each position's footprint
(reference/onion/precision.py)."""
from __future__ import annotations

from pathlib import Path

import click

from onionref import runs
from onionref.cli import cli
from onionref.errors import UserError
from onionref.onion.precision import write_report
from onionref.onion.train import load_run


@cli.command("precision")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--n", "n", type=int, default=2000, show_default=True,
              help="Sequences of the run's valid set to evaluate (the footprint uses at most 1 000).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def precision_cmd(run_dir, n, as_json):
    """RUN's exact match with its weights, states and logits rounded to bfloat16, float16, float32 and float64, per
    length; each position's footprint in the final state and how many positions each type's rounding keeps.
    Writes RUN/precision.json and RUN/precision.png."""
    if n < 1:
        raise UserError(f"--n must be >= 1, got {n}")
    cfg, params = load_run(run_dir)
    res = write_report(run_dir, cfg, params, n)
    if as_json:
        click.echo(runs.to_json(res))
        return
    for kind, r in res["types"].items():
        click.echo(f"{kind:>9}: exact match {r['accuracy']:.4f}   keeps {res['predicted_positions'][kind]} of "
                   f"{cfg.max_len} positions (footprint > u)")
    click.echo("footprint per position: " + " ".join(f"{v:.2g}" for v in res["footprint"]))
    click.echo(f"wrote {run_dir / 'precision.json'} and {run_dir / 'precision.png'}")

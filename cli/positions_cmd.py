"""`onionref positions RUN`: per position, what the run's linear analyses find (reference/onion/positions.py)."""
from __future__ import annotations

from pathlib import Path

import click

from onionref import runs
from onionref.cli import cli
from onionref.onion import figures
from onionref.onion.positions import diagnose


@cli.command("positions")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def positions_cmd(run_dir, as_json):
    """Per position of RUN's finished unigram intervention and linear probe: the IIA when only that position is
    moved, the rotated channels assigned to it, the probe's and the model's token accuracy. Writes
    RUN/positions.json and RUN/positions.png."""
    res = diagnose(run_dir)
    png = figures.per_position(res)
    runs.write_json(run_dir / "positions.json", res)
    runs.atomic_write_bytes(run_dir / "positions.png", png)
    if as_json:
        click.echo(runs.to_json(res))
        return
    if "unigram" in res:
        u = res["unigram"]
        click.echo("unigram IIA moving one position:  " + " ".join(f"{v:.3f}" for v in u["iia"])
                   + f"   (trained: {u['iia_trained']:.3f})")
        click.echo("channels per position (+ kept):   " + " ".join(str(c) for c in u["channels"]))
    if "probe_linear" in res:
        click.echo("linear probe token accuracy:      " + " ".join(f"{v:.3f}" for v in res["probe_linear"]["token_accuracy"]))
    click.echo("model token accuracy (L 9):       " + " ".join(f"{v:.3f}" for v in res["model_token_accuracy"]))
    click.echo(f"wrote {run_dir / 'positions.json'} and {run_dir / 'positions.png'}")

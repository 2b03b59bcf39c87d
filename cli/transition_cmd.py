"""`onionref transition DIR [DIR ...] --out OUT`: IIA and gate synchrony against hidden size (reference/onion/transition.py)."""
from __future__ import annotations

from pathlib import Path

import click

from onionref import runs
from onionref.cli import cli
from onionref.errors import UserError
from onionref.onion import figures_beyond
from onionref.onion.gate_timing import KEEP
from onionref.onion.report_table import mean_std
from onionref.onion.transition import HYPOTHESES, transition


@cli.command("transition")
@click.argument("sweep_dirs", metavar="DIR...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for transition.json and transition.png.")
@click.option("--keep", type=float, default=KEEP, show_default=True,
              help="A channel is frozen from the first step after which the remaining inputs overwrite less than "
                   "1 − KEEP of it.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def transition_cmd(sweep_dirs, out, keep, as_json):
    """The three hypotheses' IIA (linear, bigram, onion), the probes and the encoder gates' synchrony (the spread of
    the channels' freeze steps) per hidden size, over the autoregressive cells of one or more sweeps. Caches each
    cell's synchrony in RUN/gates.json."""
    if not 0 < keep < 1:
        raise UserError(f"--keep must be in (0, 1), got {keep}")
    res = transition(list(sweep_dirs), keep)
    png = figures_beyond.transition(res)
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(out / "transition.json", res)
    runs.atomic_write_bytes(out / "transition.png", png)
    if as_json:
        click.echo(runs.to_json(res))
        return
    click.echo("   N  n   " + "".join(f"{q:>20}" for q in HYPOTHESES) + "   freeze-step std   modal fraction")
    for r in res["rows"]:
        click.echo(f"{r['hidden']:4d} {r['seeds']:2d}   " + "".join(f"{_iia(r.get(q)):>20}" for q in HYPOTHESES)
                   + f"   {mean_std(r.get('spread')):>15}   {mean_std(r.get('modal_fraction')):>14}")
    click.echo("freeze-step std against each score, over cells: Spearman ρ across sizes; Pearson r within a size")
    for q, c in res["predicts"].items():
        click.echo(f"  {q:>13}: ρ = {_r(c['across'])} (n {c['n']}), within a size r = {_r(c['within'])} "
                   f"(n {c['n_within']})")
    click.echo(f"↑k: still rising at the analysis budget in k seeds\nwrote {out / 'transition.json'} and "
               f"{out / 'transition.png'}")


def _iia(s: dict | None) -> str:
    """mean ± std, with ↑k when k seeds' curves were still rising."""
    return mean_std(s) + (f" ↑{s['still_rising']}" if s and s.get("still_rising") else "")


def _r(v: float | None) -> str:
    return "–" if v is None else f"{v:+.2f}"

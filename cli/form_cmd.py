"""`onionref form RUN [RUN ...] --out OUT`: the onion and onion-free interventions of the same runs side by side, per
hidden size and length (reference/onion/form.py; issue 21 part 4)."""
from __future__ import annotations

from pathlib import Path

import click

from onionref import runs
from onionref.cli import cli
from onionref.onion import figures_beyond
from onionref.onion.form import form_gap
from onionref.onion.report_table import mean_std


@cli.command("form")
@click.argument("run_dirs", metavar="RUN...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for form.json and form.png.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def form_cmd(run_dirs, out, as_json):
    """Is the onion intervention's form the bottleneck? Per hidden size over seeds: the model's exact match, the
    onion and the onion-free IIA (overall and per length) and the share of the onion's gap to the model that the
    free scale closes. Needs RUN/intervene/onion and RUN/intervene/onion-free finished at the same steps; other
    runs are skipped with the reason."""
    res = form_gap(list(run_dirs))
    png = figures_beyond.form_gap(res)
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(out / "form.json", res)
    runs.atomic_write_bytes(out / "form.png", png)
    if as_json:
        click.echo(runs.to_json(res))
        return
    click.echo("   H  n   steps   model            onion            onion-free       gap closed")
    for g in res["groups"]:
        click.echo(f"{g['hidden']:4d} {len(g['runs']):2d} {g['steps']:7d}   {mean_std(g['model']):15}  "
                   f"{mean_std(g['onion']):15}  {mean_std(g['free']):15}  {mean_std(g['closed'])}")
    for run, why in res["skipped"]:
        click.echo(f"skipped {run}: {why}")
    click.echo(f"wrote {out / 'form.json'} and {out / 'form.png'}")

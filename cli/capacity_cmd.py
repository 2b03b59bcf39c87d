"""`onionref capacity RUN [RUN ...] --out OUT`: how many positions the GRUs hold per (H, max_len), measured against
predicted from the positions' footprints (reference/onion/capacity.py)."""
from __future__ import annotations

from pathlib import Path

import click

from onionref import runs
from onionref.cli import cli
from onionref.onion import figures_beyond
from onionref.onion.capacity import N_SEQUENCES, THRESHOLD, capacity
from onionref.onion.precision import TYPES
from onionref.onion.report_table import mean_std


@cli.command("capacity")
@click.argument("run_dirs", metavar="RUN...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for capacity.json and capacity.png.")
@click.option("--threshold", type=float, default=THRESHOLD, show_default=True,
              help="A length is held when the seeds' mean exact match reaches it; the measured capacity is the "
                   "longest length held. In (0, 1].")
@click.option("--n", "n", type=int, default=N_SEQUENCES, show_default=True,
              help="Sequences of each run's valid set for its precision report (RUN/precision.json is reused when "
                   "made with the same number).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def capacity_cmd(run_dirs, out, threshold, n, as_json):
    """Exact match per length in bfloat16 / float16 / float32 / float64 and the onion intervention's IIA per
    length, per (hidden size, maximum length) over seeds; the measured capacity (the longest L whose float64 exact
    match is >= THRESHOLD) against the predicted one (positions whose footprint stays above
    the type's unit roundoff, fewest over seeds). Unfinished runs (no RUN/DONE) are skipped. Computes and writes
    RUN/precision.json where missing or made otherwise."""
    res = capacity(list(run_dirs), threshold, n)
    png = figures_beyond.capacity(res)
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(out / "capacity.json", res)
    runs.atomic_write_bytes(out / "capacity.png", png)
    if as_json:
        click.echo(runs.to_json(res))
        return
    short = {"bfloat16": "bf16", "float16": "f16", "float32": "f32", "float64": "f64"}
    click.echo(f"   H  max_len  n   exact f64        exact bf16       measured f64/bf16  predicted "
               f"{'/'.join(short[k] for k in TYPES)}   min footprint / u_bf16")
    for g in res["groups"]:
        pred = "/".join(str(g["predicted"][k]) for k in TYPES)
        click.echo(f"{g['hidden']:4d} {g['max_len']:8d} {len(g['runs']):2d}   {mean_std(g['accuracy']['float64']):15}  "
                   f"{mean_std(g['accuracy']['bfloat16']):15}  {g['measured']['float64']:8d}/{g['measured']['bfloat16']:<2d}"
                   f"       {pred:>18}   {mean_std(g['min_footprint_over_u_bf16'])}")
    for s in res["skipped"]:
        click.echo(f"skipped (unfinished, no DONE): {s}")
    click.echo(f"threshold {res['threshold']:g}; wrote {out / 'capacity.json'} and {out / 'capacity.png'}")

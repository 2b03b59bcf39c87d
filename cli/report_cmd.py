"""`onionref report DIR [DIR ...]`: the paper's tables and figures of sweeps; `onionref report RUN`: one run's figures."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli
from onionref.errors import UserError
from onionref.onion.report import kind_of, write_sweep_report
from onionref.onion.run_figures import write_run_report
from onionref.runs import to_json


@cli.command("report")
@click.argument("paths", metavar="DIR... | RUN", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--input", "sequence", default=None,
              help='Input of the gate figure, e.g. "a b 1 c" [default: the paper\'s "a b 1 c a d f 2"].')
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write here instead [default: DIR itself, or RUN/figures]; the sweep or run is then only read.")
@click.option("--rows-from", type=click.Path(path_type=Path), default=None,
              help="An earlier report.json: keep its rows for sizes the sweeps lack (marked †; cells not redrawn).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def report_cmd(paths, sequence, out, rows_from, as_json, quiet):
    """DIR (a sweep): write DIR/report.md, DIR/report.json and DIR/figures/; several DIRs: one report of all their
    cells (needs --out). RUN (one trained run): draw its figures into RUN/figures/."""
    kinds = [kind_of(p) for p in paths]
    if kinds == ["run"]:
        if rows_from is not None:
            raise UserError("--rows-from applies to sweep reports, not to one run's figures")
        result = write_run_report(paths[0], sequence, out)
        msg = f"wrote {len(result['figures'])} figures to {out or paths[0] / 'figures'}"
    elif "run" in kinds:
        raise UserError(f"{paths[kinds.index('run')]} is a run, not a sweep: give one RUN, or sweep directories")
    else:
        result = write_sweep_report(list(paths), sequence, progress=not quiet, out=out, rows_from=rows_from)
        msg = f"wrote {result['report']} ({result['cells']} finished cells, {len(result['figures'])} figures)"
    click.echo(to_json(result) if as_json else msg)

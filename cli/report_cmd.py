"""`onionref report DIR`: the paper's tables and figures of a sweep; `onionref report RUN`: one run's figures."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli
from onionref.onion.report import kind_of, write_sweep_report
from onionref.onion.run_figures import write_run_report
from onionref.runs import to_json


@cli.command("report")
@click.argument("path", metavar="DIR|RUN", type=click.Path(path_type=Path))
@click.option("--input", "sequence", default=None,
              help='Input of the gate figure, e.g. "a b 1 c" [default: the paper\'s "a b 1 c a d f 2"].')
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write here instead [default: DIR itself, or RUN/figures]; the sweep or run is then only read.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def report_cmd(path, sequence, out, as_json, quiet):
    """DIR (a sweep): write DIR/report.md, DIR/report.json and DIR/figures/. RUN (one trained run): draw its
    figures into RUN/figures/."""
    if kind_of(path) == "sweep":
        result = write_sweep_report(path, sequence, progress=not quiet, out=out)
        msg = f"wrote {result['report']} ({result['cells']} finished cells, {len(result['figures'])} figures)"
    else:
        result = write_run_report(path, sequence, out)
        msg = f"wrote {len(result['figures'])} figures to {out or path / 'figures'}"
    click.echo(to_json(result) if as_json else msg)

"""The onionref command line: `onionref train`, `onionref eval`, ...

Every command turns bad input into one line on stderr and exit code 2 (see `main`)."""
from __future__ import annotations

import sys

import click

from onionref.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="onionref")
def cli():
    """onionref: how recurrent networks store sequences (onion representations)."""


def _one_line(msg) -> str:
    """The message on one line (click spreads some, e.g. the choices of a missing option, over several)."""
    return " ".join(str(msg).split())


def main(argv=None) -> int:
    """Console entry point: run the click group, map bad input to one line and exit code 2."""
    # importing a command module registers its commands on the group
    from onionref.cli import (alrnn_cmd, analysis_cmd, bench_cmd, eval_cmd, import_cmd,  # noqa: F401
                              positions_cmd, report_cmd, superposition_cmd, sweep_cmd, train_cmd,
                              precision_cmd, transition_cmd, capacity_cmd, form_cmd)
    try:
        cli.main(args=argv, prog_name="onionref", standalone_mode=False)
    except UserError as e:
        click.echo(f"onionref: error: {_one_line(e)}", err=True)
        sys.exit(2)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e))
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"onionref: error: {_one_line(e.format_message())}", err=True)
        sys.exit(2)
    except MemoryError as e:
        click.echo(f"onionref: error: out of memory ({str(e).splitlines()[0] if str(e) else 'MemoryError'}); "
                   f"try smaller sizes", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("onionref: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("onionref: interrupted; the last checkpoint is kept (resume with --resume; a sweep: run the "
                   "same command again)", err=True)
        sys.exit(130)
    return 0

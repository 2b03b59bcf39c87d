"""`onionref import SRC --out RUN`: a GRU trained elsewhere (safetensors or a PyTorch checkpoint) as a run."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli
from onionref.importing.make_run import import_run
from onionref.runs import to_json


@cli.command("import")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The run directory to create (absent or empty).")
@click.option("--no-input", is_flag=True,
              help="The model is the no-input variant: its embedding has 32 rows (SOS 30, NI 31).")
@click.option("--embedding", metavar="NAME", default=None, help="The embedding's tensor name [31|32, E].")
@click.option("--gru", metavar="PREFIX", default=None,
              help="The GRU's name prefix (PREFIX.weight_ih_l0, ...).")
@click.option("--head", metavar="NAME", default=None,
              help="The readout's weight [30, H]; its bias is the same name ending in bias.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def import_cmd(src, out, no_input, embedding, gru, head, as_json):
    """Import the GRU of SRC (a .safetensors file, or a PyTorch checkpoint .pt / .pth / .bin, also one that nests
    the state dict or pickles objects of its own) as the run directory RUN, for eval, intervene, probe and report.

    The PyTorch file is read without torch and without running anything from it: only torch's tensor-rebuild
    functions and plain containers are admitted, every other pickled object stays an inert placeholder."""
    result = import_run(src, out, no_input, embedding, gru, head)
    if as_json:
        click.echo(to_json(result))
    else:
        click.echo(f"imported {src} -> {out}: H={result['hidden']}, E={result['embedding_size']}"
                   f"{', no-input' if no_input else ''}; exact-match accuracy on valid = {result['accuracy']:.4f}")

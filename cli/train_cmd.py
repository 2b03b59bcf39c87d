"""`onionref train`: stage 1, the seq2seq GRU on the repeat task (or reverse / lookup, --task; or another cell,
--cell lstm | elman | linear | alrnn). Every cell trains on its Numba fast path by default (--backend numpy: the
reference)."""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import click

from onionref.cli import cli
from onionref.errors import UserError
from onionref.runs import read_config, to_json
from onionref.onion.train import TrainConfig, train
from onionref.tasks.access import TASKS

D = TrainConfig()


@cli.command("train")
@click.option("--hidden", type=int, default=D.hidden, show_default=True, help="Hidden size H (= embedding size).")
@click.option("--steps", type=int, default=D.steps, show_default=True, help="Training steps.")
@click.option("--batch", type=int, default=D.batch, show_default=True, help="Sequences per step.")
@click.option("--lr", type=float, default=D.lr, show_default=True, help="AdamW learning rate (constant).")
@click.option("--wd", type=float, default=D.wd, show_default=True, help="AdamW weight decay.")
@click.option("--symbols", type=int, default=D.symbols, show_default=True, help="Vocabulary size.")
@click.option("--min-len", type=int, default=D.min_len, show_default=True, help="Shortest sequence.")
@click.option("--max-len", type=int, default=D.max_len, show_default=True, help="Longest sequence.")
@click.option("--eval-every", type=int, default=D.eval_every, show_default=True, help="Validate every N steps.")
@click.option("--seed", type=int, default=D.seed, show_default=True, help="Init and batch-order seed.")
@click.option("--no-input", is_flag=True, help="Decoder gets SOS then a constant token (the no-input variant).")
@click.option("--n-train", type=int, default=D.n_train, show_default=True, help="Training-set size.")
@click.option("--backend", type=click.Choice(["numba", "numpy"]), default=D.backend, show_default=True,
              help="numba: the fast path (cells/gru_numba.py, or cells/seq_numba.py for the other cells); "
                   "numpy: the reference.")
@click.option("--cell", default=D.cell, show_default=True,
              help="The recurrent cell: gru, lstm ([h; c] state), elman (torch.nn.RNN), linear (torch.nn.RNN's "
                   "layout, no nonlinearity) or alrnn (the almost-linear RNN, with --P).")
@click.option("--nonlinearity", default=D.nonlinearity, show_default=True,
              help="--cell elman's nonlinearity: tanh or relu.")
@click.option("--P", "P", type=int, default=None,
              help="--cell alrnn's number of ReLU units, 0..H (required with it).")
@click.option("--init", type=click.Choice(["sequence", "uniform"]), default=None,
              help="--cell alrnn's initialisation: sequence (the AL-RNN spec's small init; the default) or uniform "
                   "(torch's U(−1/√H, 1/√H) for every parameter).")
@click.option("--task", type=click.Choice(TASKS), default=D.task, show_default=True,
              help="Output order: repeat (x_1..x_L), reverse (x_L..x_1), lookup (the decoder is given a position i "
                   "and outputs x_i; not with --no-input).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory [default: runs/h<H>[-<cell>][-noinput][-<task>]-s<seed>; no -<task> for repeat, "
                   "no -<cell> for gru].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the final result as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train_cmd(ctx, out, resume, as_json, quiet, **kw):
    """Train a GRU to repeat random sequences (the paper's defaults), or to reverse them / answer a position
    (--task); --cell lstm | elman | linear | alrnn trains another cell in the same model."""
    given = lambda k: ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    if given("nonlinearity") and kw["cell"] != "elman":
        raise UserError(f"--nonlinearity is the Elman cell's: give it with --cell elman (not {kw['cell']})")
    if kw["init"] is not None and kw["cell"] != "alrnn":
        raise UserError(f"--init is the AL-RNN's: give it with --cell alrnn (not {kw['cell']})")
    kw["init"] = None if kw["init"] == "sequence" else kw["init"]   # the default init is recorded as null
    cfg = TrainConfig(**kw)
    if out is None:
        task = "" if cfg.task == "repeat" else f"-{cfg.task}"
        cell = {"gru": "", "lstm": "-lstm", "elman": f"-elman-{cfg.nonlinearity}", "linear": "-linear",
                "alrnn": f"-alrnn-p{cfg.P}{'' if cfg.init is None else '-' + cfg.init}"}.get(cfg.cell, "")
        out = Path("runs") / f"h{cfg.hidden}{cell}{'-noinput' if cfg.no_input else ''}{task}-s{cfg.seed}"
    if resume:
        cfg = resumed_config(ctx, out, cfg, changeable=("steps", "backend"))
    result = train(cfg.validate(), out, resume=resume, progress=not quiet)
    if as_json:
        click.echo(to_json(result))
    else:
        click.echo(f"done: {out}  exact-match accuracy on valid = {result['accuracy']:.4f}")


def resumed_config(ctx, out: Path, cfg, changeable: tuple):
    """The config stored in `out` (of cfg's dataclass, read with its from_dict), with the `changeable` fields that
    were given on the command line taken from cfg; any other explicit flag must agree with the stored value."""
    if not (out / "config.json").is_file():
        raise UserError(f"nothing to resume in {out} (no config.json)")
    base = type(cfg).from_dict(read_config(out))
    given = {k: v for k, v in asdict(cfg).items()
             if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE}
    for k, v in given.items():
        if k not in changeable and getattr(base, k) != v:
            raise UserError(f"--{k.replace('_', '-')} {v} differs from the run's config ({getattr(base, k)})")
    return replace(base, **{k: v for k, v in given.items() if k in changeable})

"""`onionref intervene RUN --mode MODE` and `onionref probe RUN --kind KIND`: stage-2 analyses of a trained run."""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import click

from onionref.cells.choice import CELLS
from onionref.onion.analysis import AnalysisConfig
from onionref.cli import cli
from onionref.errors import UserError
from onionref.onion.frozen import VIEWS
from onionref.onion.methods import INTERVENTIONS, PROBES, analyse, intervention, intervention_name, probe, view_name
from onionref.onion.interventions import rotation
from onionref.onion.train import load_run
from onionref.runs import read_config, to_json

D = AnalysisConfig()


def _analysis_options(f):
    for opt in reversed([
        click.option("--steps", type=int, default=D.steps, show_default=True, help="Analysis steps."),
        click.option("--batch", type=int, default=D.batch, show_default=True, help="Sequences per step."),
        click.option("--lr", type=float, default=D.lr, show_default=True, help="AdamW learning rate."),
        click.option("--wd", type=float, default=D.wd, show_default=True, help="AdamW weight decay."),
        click.option("--eval-every", type=int, default=D.eval_every, show_default=True, help="Evaluate every N."),
        click.option("--seed", type=int, default=D.seed, show_default=True, help="Init and batch-order seed."),
        click.option("--state", type=click.Choice(VIEWS), default="all", show_default=True,
                     help="The part of the encoder's final state the analysis sees and edits: all of it, or an LSTM "
                          "run's h or c alone (the decoder gets the rest from the base sequence's own state; results "
                          "go to <name>-h / <name>-c)."),
        click.option("--backend", type=click.Choice(["numba", "numpy"]), default=None,
                     help="Backend of the frozen model [default: the run's]."),
        click.option("--resume", is_flag=True, help="Continue an interrupted analysis from its last checkpoint."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]):
        f = opt(f)
    return f


def _run(run_dir, kind, name, method, backend, as_json, quiet, resume, state, **kw):
    cfg = AnalysisConfig(**kw).validate()
    model_cfg, params = load_run(run_dir, cells=CELLS)   # any cell: the analyses act on its whole state, or h or c
    out_dir = run_dir / kind / view_name(name, state)
    if resume and (out_dir / "checkpoint.safetensors").exists():
        cfg = _resumed_config(out_dir, cfg)
    result = analyse(run_dir, kind, name, method, cfg, backend, progress=not quiet, resume=resume,
                     model=(model_cfg, params), view=state)
    if as_json:
        click.echo(to_json(result))
    else:
        click.echo(f"{out_dir.name}: {method.metric} = {result[method.metric]:.4f} on {result['set']} "
                   f"(the model's own accuracy there: {result['model_accuracy']:.4f})")


def _resumed_config(out_dir: Path, cfg: AnalysisConfig) -> AnalysisConfig:
    """The analysis's stored config, with --steps allowed to change; any other explicit flag must agree
    (so a resume without repeating every flag continues the same analysis)."""
    stored, fields = read_config(out_dir), asdict(AnalysisConfig())
    for k, v in stored.items():
        kind = (int,) if isinstance(fields.get(k), int) else (int, float)
        if k not in fields or isinstance(v, bool) or not isinstance(v, kind):
            raise UserError(f"{out_dir / 'config.json'}: bad config key {k!r}")
    if set(stored) != set(fields):
        raise UserError(f"{out_dir / 'config.json'}: config lacks {', '.join(sorted(set(fields) - set(stored)))}")
    try:
        stored = {k: float(v) if isinstance(fields[k], float) else v for k, v in stored.items()}
    except OverflowError:
        raise UserError(f"{out_dir / 'config.json'}: a number too large for a float") from None
    ctx = click.get_current_context()
    given = {k: v for k, v in asdict(cfg).items()
             if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE}
    for k, v in given.items():
        if k != "steps" and stored[k] != v:
            raise UserError(f"--{k.replace('_', '-')} {v} differs from the analysis's config ({stored[k]})")
    return replace(AnalysisConfig(**stored), steps=given.get("steps", stored["steps"])).validate()


@cli.command("intervene")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--mode", type=click.Choice(INTERVENTIONS), required=True,
              help="linear: unigram subspaces; bigram: n-gram subspaces; onion: per-position scale; "
                   "onion-noscale: the ablation without position; onion-free: one learned scale vector per "
                   "position instead of the onion's g·γ^p + p·ℓ + b; onion-from-end: the onion with positions counted from "
                   "the sequence's end, scale(L−1−p) (a reverse task's output order).")
@click.option("--ngram", type=int, default=None, help="n of the n-gram intervention (with --mode bigram) [2].")
@click.option("--orthogonal-map", type=click.Choice(rotation.MAPS), default="matrix_exp", show_default=True,
              help="The rotation of --mode linear / bigram: matrix_exp (the paper's) or cayley (one solve instead of "
                   "a Padé approximant and its squarings; a different optimisation path; results go to "
                   "<mode>-cayley).")
@_analysis_options
def intervene_cmd(run_dir, mode, ngram, orthogonal_map, **kw):
    """Train an interchange intervention on the frozen model of RUN and report its IIA."""
    name, n = intervention_name(mode, ngram, orthogonal_map)
    _run(run_dir, "intervene", name, intervention(mode, n, orthogonal_map), **kw)


@cli.command("probe")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(PROBES), required=True,
              help="linear / mlp: all positions at once; onion: the peeling probe; gru-*: a fresh GRU decoder.")
@_analysis_options
def probe_cmd(run_dir, kind, **kw):
    """Train a probe that decodes the whole sequence from the frozen encoder state of RUN."""
    _run(run_dir, "probe", kind, probe(kind), **kw)

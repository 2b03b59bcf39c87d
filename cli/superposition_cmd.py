"""`onionref superposition ...`: the temporal-superposition lab (delayed recall of sparse features)."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli
from onionref.cli.train_cmd import resumed_config
from onionref.runs import to_json
from onionref.superposition.config import SuperConfig
from onionref.superposition.model import MODELS

D = SuperConfig()


@cli.group("superposition")
def superposition():
    """Temporal superposition (Sharma et al., ICLR 2026): linear, ReLU-readout and ReLU RNNs on k-delay recall."""


def model_options(f):
    """The options that define one model and its task (shared by train and sweep's fixed settings)."""
    opts = [
        click.option("--features", type=int, default=D.features, show_default=True, help="Input features N_x."),
        click.option("--hidden", type=int, default=D.hidden, show_default=True, help="Hidden size N_h."),
        click.option("--untied", is_flag=True, help="Free readout W_y instead of the tied W_y = W_h^k W_x."),
        click.option("--bias/--no-bias", default=D.bias, show_default=True, help="Output bias b."),
        click.option("--T", "T", type=int, default=D.T, show_default=True, help="Sequence length (0: k + 20)."),
        click.option("--steps", type=int, default=D.steps, show_default=True, help="Adam steps."),
        click.option("--batch", type=int, default=D.batch, show_default=True,
                     help="Sequences per step (0: at least 1024 and at least 400 active events)."),
        click.option("--lr", type=float, default=D.lr, show_default=True, help="Adam learning rate."),
        click.option("--decay", type=float, default=D.decay, show_default=True,
                     help="Feature importance I_i = decay^i."),
        click.option("--init-scale", type=float, default=D.init_scale, show_default=True,
                     help="Initial weights ~ N(0, scale²/N_h)."),
        click.option("--eval-every", type=int, default=D.eval_every, show_default=True,
                     help="Geometry trace row and checkpoint every N steps."),
        click.option("--backend", type=click.Choice(["numba", "numpy"]), default=D.backend, show_default=True,
                     help="numba: the fused kernel; numpy: the reference."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@superposition.command("train")
@click.option("--model", type=click.Choice(MODELS), default=D.model, show_default=True,
              help="linear: linear RNN; ssm: ReLU readout; relu: ReLU recurrence and readout.")
@click.option("--k", type=int, default=D.k, show_default=True, help="Delay k (0: Toy Models of Superposition).")
@click.option("--p", type=float, default=D.p, show_default=True, help="Probability that a feature is active.")
@model_options
@click.option("--seed", type=int, default=D.seed, show_default=True, help="Init and batch seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory [default: runs/superposition/<model>-k<k>-p<p>-x<N_x>-h<N_h>[-untied]-s<seed>].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint (--steps may grow).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train_cmd(ctx, out, resume, as_json, quiet, **kw):
    """Train one model on k-delay recall; writes a run directory with result.json and figures."""
    from onionref.superposition.train import train

    cfg = SuperConfig(**kw).validate()
    if out is None:
        out = Path("runs") / "superposition" / (f"{cfg.model}-k{cfg.k}-p{cfg.p:g}-x{cfg.features}-h{cfg.hidden}"
                                                f"{'-untied' if cfg.untied else ''}-s{cfg.seed}")
    if resume:
        cfg = resumed_config(ctx, out, cfg, changeable=("steps", "backend"))
    result = train(cfg, out, resume=resume, progress=not quiet)
    if as_json:
        click.echo(to_json(result))
        return
    th = result["k_theta_deg"]
    click.echo(f"done: {out}  loss {result['loss']:.4g} (normalised {result['loss_normalised']:.3f})  "
               f"ρ(W_h) {result['spectral_radius']:.3f}" + (f"  kθ {th:.1f}°" if th is not None else ""))
    if cfg.features == 1:
        click.echo("a_s = " + " ".join(f"{a:+.3f}" for a in result["a"]))
    else:
        click.echo(f"features kept: {result['features_kept']}")
    if "analytic_loss" in result:
        click.echo("analytic loss " + "  ".join(f"{k} {v:.4g}" for k, v in result["analytic_loss"].items()))

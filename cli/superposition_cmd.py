"""`onionref superposition ...`: the temporal-superposition lab (delayed recall of sparse features)."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli, lists
from onionref.cli.train_cmd import resumed_config
from onionref.errors import UserError
from onionref.runs import to_json
from onionref.superposition.config import LR_SCHEDULES, SuperConfig
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
                     help="Sequences per step (0: at least 512 and at least 200 active events)."),
        click.option("--lr", type=float, default=D.lr, show_default=True, help="Adam learning rate."),
        click.option("--lr-decay", type=float, default=D.lr_decay, show_default=True,
                     help="Final learning rate as a fraction f of --lr (1: constant). Update t of S uses "
                          "lr·(f + (1−f)·(1 + cos(πt/S))/2) (cosine) or lr·f^(t/S) (exp); recorded in config.json."),
        click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default=D.lr_schedule, show_default=True,
                     help="Shape of the --lr-decay: cosine or exp (ignored when --lr-decay is 1)."),
        click.option("--decay", type=float, default=D.decay, show_default=True,
                     help="Feature importance I_i = decay^i."),
        click.option("--init-scale", type=float, default=D.init_scale, show_default=True,
                     help="Initial weights ~ N(0, scale²/N_h)."),
        click.option("--eval-every", type=int, default=D.eval_every, show_default=True,
                     help="Geometry trace row and checkpoint every N steps."),
        click.option("--eval-events", type=int, default=D.eval_events, show_default=True,
                     help="About this many active events in the final evaluation batch."),
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


@superposition.command("sweep")
@click.option("--p", "p_list", default="1,0.5,0.2,0.1,0.05,0.02", show_default=True, help="Values of p.")
@click.option("--k", "k_list", default="1,2,3,4,5", show_default=True, help="Values of the delay k.")
@click.option("--models", default="linear,ssm,relu", show_default=True, help="Models (linear, ssm, relu).")
@click.option("--seeds", type=int, default=5, show_default=True, help="Seeds per cell (0..N-1), trained side by side.")
@model_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Sweep directory.")
@click.option("--workers", type=int, default=None, help="Dask workers [default: one per core].")
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler (tcp://HOST:PORT).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_cmd(p_list, k_list, models, seeds, out, workers, scheduler, as_json, quiet, **kw):
    """Train the (model, p, k) grid × seeds on the sweep engine; summary.json and phase figures in OUT."""
    from onionref.superposition import sweep
    from onionref.superposition.sweep_figures import sweep_figures

    models = lists.names(models, "--models", MODELS)
    summary = sweep.run_sweep(out, SuperConfig(**kw), models, lists.floats(p_list, "--p"),
                              lists.ints(k_list, "--k", lo=0), seeds,
                              workers=workers, scheduler=scheduler, progress=not quiet)
    summary["figures"] = sweep_figures(summary, out)
    wall = summary["wall_seconds"]
    if as_json:
        click.echo(to_json({k: v for k, v in summary.items() if k != "cells"} | {"summary": str(out / "summary.json")}))
        return
    click.echo(f"{'model':<7}{'k':>3}{'p':>7}{'loss/norm':>11}{'kθ':>7}{'ρ':>7}  geometry (lowest-loss seed)")
    for r in summary["cells"]:
        th = "-" if r["k_theta_deg"] is None else f"{r['k_theta_deg']:.0f}"
        geo = (f"features kept {r['features_kept']}" if r["fraction_interference_free"] is None else
               f"interference-free {'yes' if r['interference_free'] else 'no'}, "
               f"{r['fraction_interference_free']:.0%} of seeds")
        click.echo(f"{r['model']:<7}{r['k']:>3}{r['p']:>7g}{r['loss_normalised']:>11.3f}{th:>7}"
                   f"{r['spectral_radius']:>7.2f}  {geo}")
    for j in summary["jumps"]:
        click.echo(f"jump p ({j['model']}, k={j['k']}): {j['jump_p']}")
    click.echo(f"wall time {wall:.0f} s for {summary['jobs']} jobs; summary in {out / 'summary.json'}")


@superposition.command("plot")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the figures [default: each run's own directory].")
@click.option("--json", "as_json", is_flag=True, help="Print the files written as one JSON line.")
def plot_cmd(run_dirs, out, as_json):
    """Draw a finished run's figures (trace, geometry, W_yᵀW_k); with several 2-D runs also geometry_panels.png."""
    from onionref import runs
    from onionref.superposition.figures import plot_geometry_panels, run_figures
    from onionref.superposition.train import load_weights

    items, written = [], []
    for d in run_dirs:
        if not (d / "DONE").is_file():
            raise UserError(f"{d} is not a finished run (no DONE)")
        cfg = SuperConfig.from_dict(runs.read_config(d))
        params, result = load_weights(d, cfg), runs.read_json(d / "result.json")
        target = d if out is None else out / d.name
        target.mkdir(parents=True, exist_ok=True)
        run_figures(runs.read_jsonl(d / "metrics.jsonl"), params, cfg, result, target)
        written += [str(p) for p in sorted(target.glob("*.png"))]
        items.append((params, cfg, result))
    if len(items) > 1 and all(c.hidden == 2 for _, c, _ in items):
        path = (out or Path(".")) / "geometry_panels.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_geometry_panels(items, path)
        written.append(str(path))
    click.echo(to_json({"figures": written}) if as_json else "\n".join(written))


@superposition.command("kept")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for kept.json and features_kept_vs_hidden.png [default: print only].")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as one JSON line.")
def kept_cmd(paths, out, as_json):
    """Features kept (diag W_yᵀW_k > 0.5) per (model, k, p, N_x, N_h) over the seeds of finished vector-input runs
    or sweeps: mean ± std of the count, the mean diag of the kept features, the mean off-diagonal (kept, all), and
    the mean normalised loss (a blown-up run keeps every feature by this test; its loss gives it away)."""
    from onionref import runs
    from onionref.superposition.kept import finished_results, kept_table, plot_kept_vs_hidden

    rows = kept_table(finished_results(paths))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        runs.write_json(out / "kept.json", {"rows": rows, "sources": [str(p) for p in paths]})
        plot_kept_vs_hidden(rows, out / "features_kept_vs_hidden.png")
    if as_json:
        click.echo(to_json({"rows": rows}))
        return

    def f(m, s):
        return "-" if m is None else f"{m:.3g} ± {s:.2g}"
    click.echo(f"{'model':<6}{'k':>3}{'p':>6}{'N_x':>5}{'N_h':>5}{'seeds':>6}  {'kept':<12}{'diag (kept)':<17}"
               f"{'off-diag (kept)':<18}{'off-diag (all)':<18}loss÷Var(X)")
    for r in rows:
        kept = f"{r['kept_mean']:.1f} ± {r['kept_std']:.1f}"
        click.echo(f"{r['model']:<6}{r['k']:>3}{r['p']:>6g}{r['features']:>5}{r['hidden']:>5}{r['n_seeds']:>6}  "
                   f"{kept:<12}{f(r['diag_kept_mean'], r['diag_kept_std']):<17}"
                   f"{f(r['off_kept_mean'], r['off_kept_std']):<18}{f(r['off_all_mean'], r['off_all_std']):<18}"
                   f"{r['loss_mean']:.4g}")

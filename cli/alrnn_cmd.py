"""`onionref alrnn`: the almost-linear RNN lab (train, regions, dynamics, gradients, sweep, groups)."""
from __future__ import annotations

from dataclasses import MISSING, asdict, fields, replace
from pathlib import Path

import click

from onionref.cli import cli, lists
from onionref.errors import UserError
from onionref.runs import read_config, to_json


@cli.group("alrnn")
def alrnn():
    """Almost-linear RNNs: M units of which the last P are ReLUs (Brenner & Koppe)."""


@alrnn.command("train")
@click.option("--task", type=str, default="addition", show_default=True, help="addition | context | copy | multitask | digits.")
@click.option("--hidden", type=int, default=None,
              help="M, all units [task default: addition 20, context 10, copy 20, multitask 32, digits 50].")
@click.option("--P", "P", type=int, default=None, help="ReLU units (the last P of the M) [task default].")
@click.option("--length", type=int, default=None,
              help="T, steps per trial [addition 50, context 100, copy 2·seq_len+1+delay; digits: 64, fixed].")
@click.option("--seq-len", type=int, default=None, help="copy: symbols to recall [4].")
@click.option("--delay", type=int, default=None, help="copy: blank steps before the recall [20].")
@click.option("--symbols", type=int, default=None, help="copy: one-hot channels, channel 0 = cue [5].")
@click.option("--mar", type=float, default=None, help="MAR strength τ [0.1, multitask 0.01; 0 = off].")
@click.option("--mar-units", type=int, default=None, help="MAR on units 0..N-1 [hidden // 2].")
@click.option("--lr", type=float, default=None, help="Adam learning rate [1e-3].")
@click.option("--batch", type=int, default=None, help="Trials per step [addition 128, context 64, copy 64, multitask 64, digits 64].")
@click.option("--epochs", type=int, default=None,
              help="Epochs [addition 200, context 1000, copy 3000, multitask 100, digits 600].")
@click.option("--eval-every", type=int, default=None, help="Epochs between evaluations and checkpoints.")
@click.option("--n-train", type=int, default=None, help="Training trials [digits: at most 1197].")
@click.option("--n-valid", type=int, default=None, help="Validation trials.")
@click.option("--n-test", type=int, default=None, help="Test trials.")
@click.option("--seed", type=int, default=None, help="Init, data and batch-order seed [0].")
@click.option("--until-solved", is_flag=True, default=None,
              help="Stop at the first evaluation whose validation metrics count as solved (the sweep's rule: "
                   "addition MSE < 0.01, context / multitask accuracy >= 0.9, copy sequence accuracy >= 0.9); "
                   "needs --n-valid.")
@click.option("--backend", type=click.Choice(["numba", "numpy"]), default=None, help="numba (fast) or numpy [numba].")
@click.option("--durations", type=str, default=None, help="multitask: simple or hard trial periods [simple].")
@click.option("--per-task", type=int, default=None,
              help="multitask: a fixed training set of N trials per task, selected on validation accuracy [off].")
@click.option("--steps", type=int, default=None, help="Adam steps in all, whatever the set's size (instead of --epochs).")
@click.option("--threads", type=int, default=None,
              help="numba: batch-chunk threads [one per core]; the same seed, config and count give the same run.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory [default: runs/alrnn-<task>-m<M>-p<P>-s<seed>].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_cmd(task, out, resume, as_json, quiet, threads, **given):
    """Train an AL-RNN on one task (plain BPTT, Adam, MAR); writes a run directory."""
    from onionref.alrnn.config import resolve
    from onionref.alrnn.train import train
    from onionref.cli.bench_cmd import MAX_THREADS
    from onionref.jit.threads import set_threads

    if threads is not None:
        if not 1 <= threads <= MAX_THREADS:
            raise UserError(f"--threads must be in 1..{MAX_THREADS}, got {threads}")
        set_threads(threads)

    if resume:
        if out is None:
            raise UserError("--resume needs --out")
        cfg = _resumed(out, task, given)
    else:
        cfg = resolve(task, given)
    if out is None:
        out = Path("runs") / f"alrnn-{cfg.task}-m{cfg.hidden}-p{cfg.P}-s{cfg.seed}"
    result = train(cfg, out, resume=resume, progress=not quiet)
    if as_json:
        click.echo(to_json(result))
    else:
        extra = f"  mse = {result['mse']:.4f}" if "mse" in result else ""
        click.echo(f"done: {out}  test loss = {result['loss']:.4f}  accuracy = {result['accuracy']:.4f}{extra}  "
                   f"codes used = {result['codes_used']} of 2^{cfg.P}")


def _resumed(out: Path, task: str, given: dict):
    """The stored config, with --epochs (and --backend) allowed to change; other explicit flags must agree."""
    from onionref.alrnn.config import ALRNNConfig
    if not (out / "config.json").is_file():
        raise UserError(f"nothing to resume in {out} (no config.json)")
    base = ALRNNConfig.from_dict(read_config(out))
    stored = asdict(base)
    for k, v in given.items():
        if v is not None and k not in ("epochs", "backend") and stored[k] != v:
            raise UserError(f"--{k.replace('_', '-')} {v} differs from the run's config ({stored[k]})")
    if task != base.task and click.get_current_context().get_parameter_source("task") == \
            click.core.ParameterSource.COMMANDLINE:
        raise UserError(f"--task {task} differs from the run's config ({base.task})")
    return replace(base, **{k: v for k, v in given.items() if k in ("epochs", "backend") and v is not None})


@alrnn.command("regions")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as one JSON line.")
def regions_cmd(run, as_json):
    """Bitcodes, their histogram, region transitions, Jacobian spectra and fixed points of a trained run."""
    from onionref.alrnn.analyze import analyze

    res = analyze(run)
    if as_json:
        click.echo(to_json(res))
        return
    click.echo(f"{res['task']} M={res['hidden']} P={res['P']}: {res['codes_used']} codes of 2^{res['P']} over "
               f"{res['steps']} steps, {res['bit_flips_per_step']:.3f} bit flips per step")
    for r in res["regions"]:
        click.echo(f"  region {r['code'] or '(linear)'}: {100 * r['freq']:.1f}% of steps, max |λ| = "
                   f"{r['max_abs_eig']:.3f}, λ nearest 1 = {r['eig_nearest_1'][0]:+.3f}{r['eig_nearest_1'][1]:+.3f}i")
    for k in ("gate", "jsd_between_contexts", "fixed_points"):
        if k in res:
            click.echo(f"  {k}: {to_json(res[k])}")
    click.echo(f"figures in {Path(run) / 'regions'}")


@alrnn.command("dynamics")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as one JSON line.")
def dynamics_cmd(run, as_json):
    """What the ReLU units do in a copy run's delay and recall: codes per step and phase, the delay's period of
    regions, the dominant regions' Jacobian spectra (RUN/dynamics.json, RUN/dynamics.png)."""
    from onionref.alrnn.dynamics import run_dynamics

    res = run_dynamics(run)
    if as_json:
        click.echo(to_json(res))
        return
    click.echo(f"copy M={res['hidden']} P={res['P']}, seq_len {res['seq_len']}, delay {res['delay']}, "
               f"{res['trials']} test trials: {res['codes_used']} codes of 2^{res['P']}")
    if "note" in res:
        click.echo(f"  {res['note']}")
    for name, ph in res["phases"].items():
        top = ", ".join(f"{h['code']} {100 * h['freq']:.0f}%" for h in ph["histogram"][:3])
        click.echo(f"  {name:6s} steps {ph['steps'][0]}-{ph['steps'][1] - 1}: {ph['distinct_codes']} codes ({top}), "
                   f"{ph['bit_flips_per_step']:.2f} bit flips per step")
    dp, T = res["delay_period"], res["phase_bounds"]["recall"][1]
    click.echo(f"  delay period of regions: fixed {100 * dp['fraction_fixed']:.0f}%, cycle "
               f"{100 * dp['fraction_cycle']:.0f}% (modal period {dp['modal_cycle_period']}), none "
               f"{100 * dp['fraction_aperiodic']:.0f}%; ReLU activity ACF first peak at lag "
               f"{res['relu_acf']['first_peak_lag']}")
    if res["relu_growth"] and res["relu_growth"]["growth_per_step"] is not None:
        click.echo(f"  ReLU activity about its trial mean grows by {res['relu_growth']['growth_per_step']:.3f} per step "
                   f"over the delay (rms {res['relu_growth']['rms_first_half']:.2f} -> "
                   f"{res['relu_growth']['rms_second_half']:.2f}; a limit cycle would keep it at 1)")
    for name in ("delay_region", "recall_region", "delay_cycle"):
        if name in res:
            r = res[name]
            rot = "; ".join(f"|λ| {x['modulus']:.3f} θ {x['angle']:.3f} ({x['steps_per_turn']:.2f} steps per turn)"
                            for x in r["rotations"][:8] if x["modulus"] > 0.9 and x["steps_per_turn"] <= 2 * T)
            label = r["code"] if "code" in r else " -> ".join(r["codes"])
            click.echo(f"  {name} {label}: spectral radius {r['spectral_radius']:.3f}, "
                       f"{len(r['above_min'])} eigenvalues above 0.9; rotations (a turn within {2 * T} steps): {rot or 'none'}")
    click.echo(f"dynamics.json and dynamics.png in {run}")


@alrnn.command("gradients")
@click.argument("run_dirs", metavar="RUN...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--at-init", is_flag=True, help="Also the first RUN's initial parameters (epoch 0).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The figure [first RUN/gradients.png].")
@click.option("--json", "as_json", is_flag=True, help="Print the profiles as one JSON line.")
def gradients_cmd(run_dirs, at_init, out, as_json):
    """How far back the loss gradient reaches: ‖∂L/∂z_t‖ per step of each RUN's last parameters, on its test set."""
    from onionref.alrnn.figures import plot_grad_norms
    from onionref.alrnn.gradflow import run_profile

    profiles = ([run_profile(run_dirs[0], at_init=True)] if at_init else []) + [run_profile(r) for r in run_dirs]
    out = out or Path(run_dirs[0]) / "gradients.png"
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: no directory {out.parent}")
    plot_grad_norms(profiles, out, "gradient reaching step t")
    if as_json:
        click.echo(to_json({"profiles": profiles, "figure": str(out)}))
        return
    for p in profiles:
        click.echo(f"{p['label']}: |dL/dz_t| at t = 0: {p['state'][0]:.3g}, at the first readout (t = "
                   f"{p['first_readout']}): {p['state'][p['first_readout']]:.3g}, ratio {p['reach']:.3g}")
    click.echo(f"figure: {out}")


@alrnn.command("sweep")
@click.option("--task", type=str, default="addition", show_default=True, help="addition | context | copy | multitask | digits.")
@click.option("--P", "Ps", default="0,1,2,5,20", show_default=True, help="ReLU unit counts, comma-separated.")
@click.option("--seeds", type=int, default=5, show_default=True, help="Seeds 0..N-1 per P.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Sweep directory.")
@click.option("--hidden", type=int, default=None, help="M [task default].")
@click.option("--length", type=int, default=None, help="T [task default].")
@click.option("--epochs", type=int, default=None, help="Epochs per run [task default].")
@click.option("--batch", type=int, default=None, help="Trials per step [task default].")
@click.option("--n-train", type=int, default=None, help="Training trials [task default].")
@click.option("--n-valid", type=int, default=None, help="Validation trials [task default].")
@click.option("--until-solved", is_flag=True, default=None,
              help="Each run stops at the first evaluation whose validation metrics count as solved; needs --n-valid.")
@click.option("--mar", type=float, default=None, help="MAR τ [task default].")
@click.option("--mar-units", type=int, default=None, help="MAR units [hidden // 2].")
@click.option("--lr", type=float, default=None, help="Adam learning rate [1e-3].")
@click.option("--seq-len", type=int, default=None, help="copy: symbols to recall [4].")
@click.option("--delay", type=int, default=None, help="copy: blank steps before the recall [20].")
@click.option("--symbols", type=int, default=None, help="copy: one-hot channels, channel 0 = cue [5].")
@click.option("--durations", type=str, default=None, help="multitask: simple or hard trial periods [simple].")
@click.option("--per-task", "per_task", default=None,
              help="multitask: training-set sizes (trials per task), comma-separated; a grid axis [off].")
@click.option("--steps", type=int, default=None, help="Adam steps per run, the same for every --per-task size.")
@click.option("--workers", type=int, default=None, help="Local worker processes [one per core].")
@click.option("--scheduler", type=str, default=None, help="Address of a running Dask scheduler (tcp://HOST:PORT).")
@click.option("--collect", is_flag=True, help="Only report the runs already finished in --out (train nothing).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-P summary as one JSON line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_cmd(task, Ps, seeds, out, per_task, workers, scheduler, collect, as_json, quiet, **given):
    """Train one task over P × seeds on the sweep engine, analyse every run, and report the numbers against P."""
    from onionref.alrnn import sweep
    from onionref.alrnn.config import resolve
    from onionref.sweep.engine import Job, run_jobs
    from onionref.sweep.sweepdir import open_sweep

    P_list = lists.ints(Ps, "--P", lo=0)
    if seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {seeds}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    sizes = lists.ints(per_task, "--per-task", lo=1) if per_task is not None else []
    base = resolve(task, {**given, "P": 0, "per_task": sizes[0] if sizes else None})
    for P in P_list:
        if P > base.hidden:
            raise UserError(f"--P {P} is above --hidden ({base.hidden})")
    axis = {"per_task": sizes} if sizes else {}
    vary = ("P", "seed") + (("per_task", "n_train", "epochs", "eval_every") if sizes else ())
    budget = {k: v for k, v in asdict(base).items() if k not in vary}
    open_sweep(out, {"kind": f"alrnn-{task}", "grid": {**axis, "P": P_list, "seed": list(range(seeds))}}, budget,
               defaults={f.name: f.default for f in fields(base) if f.default is not MISSING})
    # The grid asked for now (sweep.json keeps the union of every grid asked for in OUT; --collect with a wider
    # grid reports runs finished by earlier, narrower commands).
    bases = [resolve(task, {**given, "P": 0, "per_task": n}) for n in sizes] or [base]
    configs = [replace(b, P=P, seed=s).validate() for b in bases for P in P_list for s in range(seeds)]
    if collect:
        results = sweep.collect(out, configs)
    else:
        results = run_jobs(sweep.jobs_of(out, configs, Job), workers=workers, scheduler=scheduler,
                           progress=not quiet, desc=f"alrnn sweep {task}")
    summary = sweep.aggregate(task, configs, results, out)
    if as_json:
        click.echo(to_json(summary))
        return
    key, _, rule = sweep.SOLVED[task]
    budget_text = f"{base.steps} Adam steps" if base.steps else f"{base.epochs} epochs"
    click.echo(f"{task}: M={base.hidden}, {budget_text}; solved = {rule}")
    for r in summary["rows"]:
        size = f"  {r['per_task']:4d}/task" if "per_task" in r else ""
        click.echo(f"{size}  P={r['P']:3d}  solved {r['solved']}/{r['seeds']}  "
                   f"{key} {r[key]['mean']:.4f} ± {r[key]['std']:.4f}  codes {r['codes_used']['mean']:.1f} of 2^{r['P']}")
    click.echo(f"figures and summary.json in {out}")


@alrnn.command("groups")
@click.argument("sweep_dir", metavar="SWEEPDIR", type=click.Path(path_type=Path))
@click.option("--P", "P", type=int, required=True, help="The runs' number of ReLU units.")
@click.option("--per-task", type=int, default=None, help="The runs' training-set size [the largest in SWEEPDIR].")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON line.")
def groups_cmd(sweep_dir, P, per_task, as_json):
    """Task structure of a multitask sweep at one P: the seed-mean JSD matrix in clustering order, pro vs anti."""
    from onionref.alrnn.task_groups import sweep_groups

    if P < 0:
        raise UserError(f"--P must be >= 0, got {P}")
    if per_task is not None and per_task < 0:
        raise UserError(f"--per-task must be >= 1, got {per_task}")
    res = sweep_groups(sweep_dir, P, per_task)
    if as_json:
        click.echo(to_json(res))
        return
    size = f", {res['per_task']} per task" if res["per_task"] else ""
    click.echo(f"multitask P={P}{size}, {res['seeds']} seeds: JSD (bits), mean ± std over seeds")
    for k in ("within_pro", "within_anti", "between_pro_anti", "mean_all_pairs"):
        v = res[k]
        click.echo(f"  {k:17s} {v['mean']:.3f} ± {v['std']:.3f}   per seed {', '.join(f'{x:.3f}' for x in v['per_seed'])}")
    click.echo(f"  clustering order: {', '.join(res['order'])}")
    click.echo(f"figure: {res['figure']}")

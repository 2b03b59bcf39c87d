"""The (model, p, k) × seeds grid of the temporal-superposition lab on the one sweep engine (sweep/engine.py).

One job per (model, p, k): it trains all seeds of that cell side by side (train.train_seeds), each seed in its own
run directory OUT/<model>-k<k>-p<p>-s<seed>, and returns their result dicts. OUT/sweep.json (sweep/sweepdir.py)
records the grid and the budget; OUT/summary.json and the figures are written after the jobs. Jobs are idempotent: a finished
run directory returns its result.json, an interrupted one resumes from its checkpoint.

Aggregation, per (model, k, p): the lowest-loss seed's numbers, and the fraction of seeds that reach the
interference-free geometry (a_k ≥ 0.9 and every other a_s ≤ 0.05); per (model, k): the jump p, the largest p from
which on (towards sparser inputs) the lowest-loss seed is in that geometry.
"""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

from .. import runs
from ..errors import UserError
from ..sweep.engine import Job, connect, run_jobs
from ..sweep.sweepdir import open_sweep
from .config import SuperConfig

A_K_MIN, A_OTHER_MAX = 0.9, 0.05


def run_dir(out: Path, model: str, k: int, p: float, seed: int) -> Path:
    return Path(out) / f"{model}-k{k}-p{p:g}-s{seed}"


def train_cell(config: dict, seeds: list, run_dirs: list) -> dict:
    """The job of one (model, p, k) cell: train `seeds` side by side; {"results": [result of each seed]}."""
    from .train import train_seeds

    cfg = SuperConfig.from_dict(config)
    return {"results": train_seeds(cfg, seeds, run_dirs, resume=True, progress=False, figures=False)}


def cells(base: SuperConfig, models, ps, ks) -> list[SuperConfig]:
    """One config per (model, k, p) of the grid (seed 0), every other setting taken from `base`."""
    return [replace(base, model=m, k=int(k), p=float(p), seed=0).validate() for m in models for k in ks for p in ps]


def job_specs(out: Path, base: SuperConfig, models, ps, ks, n_seeds: int) -> list[dict]:
    """[{"key", "kwargs"}] of every cell: what the sweep command turns into engine Jobs (fn = train_cell)."""
    specs = []
    for c in cells(base, models, ps, ks):
        seeds = list(range(n_seeds))
        specs.append({"key": f"{c.model}-k{c.k}-p{c.p:g}",
                      "kwargs": {"config": asdict(c), "seeds": seeds,
                                 "run_dirs": [str(run_dir(out, c.model, c.k, c.p, s)) for s in seeds]}})
    return specs


def interference_free(result: dict) -> bool | None:
    """a_k ≥ 0.9 and every other a_s ≤ 0.05 (one feature): the readout sees only w_k, the rest lie behind it.
    For the ReLU RNN, a_s of its response to an isolated event. None for vector inputs (see features_kept)."""
    a, k = result.get("a_impulse", result["a"]), result["k"]
    if result.get("features", 1) != 1:
        return None
    return a[k] >= A_K_MIN and all(v <= A_OTHER_MAX for s, v in enumerate(a) if s != k)


def _seed_row(r: dict) -> dict:
    """One seed of a cell in the summary: its loss, kθ, ρ, whether it is interference-free, and its a_s (one
    feature; a_impulse too for the ReLU RNN) or the features it keeps (vector inputs)."""
    row = {"seed": r["seed"], "loss": r["loss"], "loss_normalised": r["loss_normalised"],
           "k_theta_deg": r["k_theta_deg"], "spectral_radius": r["spectral_radius"],
           "interference_free": interference_free(r)}
    if r.get("features", 1) == 1:
        row.update({"a": r["a"]} | ({"a_impulse": r["a_impulse"]} if "a_impulse" in r else {}))
    else:
        row["features_kept"] = r.get("features_kept")
    return row


def aggregate(results: list[dict]) -> dict:
    """{"cells": [...], "jumps": [...]} from the result dicts of every seed of every cell."""
    by_cell: dict[tuple, list] = {}
    for r in results:
        by_cell.setdefault((r["model"], r["k"], r["p"]), []).append(r)
    rows = []
    for (model, k, p), rs in sorted(by_cell.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])):
        best = min(rs, key=lambda r: r["loss"])
        free = [interference_free(r) for r in rs]
        rows.append({"model": model, "k": k, "p": p, "seeds": len(rs), "best_seed": best["seed"],
                     "loss": best["loss"], "loss_normalised": best["loss_normalised"],
                     "k_theta_deg": best["k_theta_deg"], "spectral_radius": best["spectral_radius"],
                     "a": best["a"], "a_impulse": best.get("a_impulse"), "interference_free": interference_free(best),
                     "fraction_interference_free": None if free[0] is None else sum(free) / len(rs),
                     "features_kept": best.get("features_kept"), "diag_WyT_Wk": best.get("diag_WyT_Wk"),
                     "offdiag_mean_WyT_Wk": best.get("offdiag_mean_WyT_Wk"),
                     "analytic_loss": best.get("analytic_loss", {}).get("total"),
                     "all_seeds": [_seed_row(r) for r in sorted(rs, key=lambda r: r["seed"])]})
    jumps = []
    for model, k in sorted({(r["model"], r["k"]) for r in rows if r["interference_free"] is not None}):
        line = sorted((r for r in rows if r["model"] == model and r["k"] == k), key=lambda r: r["p"])
        jump = None
        for r in line:                      # from the sparsest p upwards: the last p of the unbroken sparse run
            if r["interference_free"] is not True:
                break
            jump = r["p"]
        jumps.append({"model": model, "k": k, "jump_p": jump,
                      "note": "largest p with the interference-free geometry at every sparser p (lowest-loss seed)"})
    return {"cells": rows, "jumps": jumps}


def sweep_budget(base: SuperConfig) -> dict:
    """Every setting of `base` except the grid axes and the seed (what OUT/sweep.json compares on reopening).
    Without a learning-rate decay, lr_decay and lr_schedule are left out: the budget is then the one sweeps made
    before --lr-decay existed wrote, so they reopen."""
    budget = {k: v for k, v in asdict(base).items() if k not in ("model", "k", "p", "seed")}
    if base.lr_decay == 1.0:
        del budget["lr_decay"], budget["lr_schedule"]
    return budget


def run_sweep(out: Path, base: SuperConfig, models, ps, ks, n_seeds: int, *, workers: int | None = None,
              scheduler: str | None = None, progress: bool = True) -> dict:
    """Run the grid models × ps × ks × range(n_seeds) (every other setting from `base`) on the engine, then write
    OUT/summary.json. Every check (the grid, the budget against OUT/sweep.json, the scheduler) comes before
    anything is written. Returns the summary (aggregate + wall time)."""
    out = Path(out)
    if not 1 <= n_seeds <= 1000:
        raise UserError(f"--seeds must be in 1..1000, got {n_seeds}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if workers is not None and scheduler is not None:
        raise UserError("--workers and --scheduler exclude each other (a running cluster has its own workers)")
    cells(base, models, ps, ks)                      # validates every cell
    budget = sweep_budget(base)
    manifest = {"kind": "superposition", "grid": {"model": list(models), "p": list(ps), "k": list(ks),
                                                  "seed": list(range(n_seeds))}}
    open_sweep(out, manifest, budget, write=False)
    specs = job_specs(out, base, models, ps, ks, n_seeds)
    t0 = time.time()
    with connect(workers, scheduler) as client:
        open_sweep(out, manifest, budget)
        done = run_jobs([Job(s["key"], train_cell, s["kwargs"]) for s in specs], progress=progress,
                        desc=f"superposition {out.name}", client=client)
    summary = aggregate([r for s in specs for r in done[s["key"]]["results"]])
    summary.update({"wall_seconds": time.time() - t0, "jobs": len(specs), "runs": len(specs) * n_seeds,
                    "budget": budget})
    runs.write_json(out / "summary.json", summary)
    return summary

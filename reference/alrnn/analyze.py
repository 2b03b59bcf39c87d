"""`onionref alrnn regions RUN`: the linear-subregion analysis of a trained run on its test trials (spec A4).

Writes RUN/regions/regions.json and histogram.png, transitions.png, eigenvalues.png (+ jsd.png where the run has
groups of trials: the two contexts of contextual integration, the 11 tasks of the multi-task model). Task-specific numbers:
  addition  the input gate: how often the code leaves its dominant region at marked steps and at unmarked steps;
            the Jacobian eigenvalue nearest 1 of the dominant region (an integrator has one ≈ 1)
  context   the code distribution per context and their JSD; the final-step codes of each context
  multitask the code distribution per task, the JSD matrix between tasks (one model: shared unit labels) and its mean
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..tasks import cognitive
from ..errors import UserError
from . import data, model
from .config import ALRNNConfig
from .figures import plot_eigenvalues, plot_histogram, plot_matrix, plot_transitions
from .regions import (all_fixed_points, bit_flips, bitcodes, code_strings, complex_pair, distribution, fixed_point,
                      jacobian, jsd, transitions, unique_codes)

TOP_REGIONS = 4      # regions whose Jacobian spectra are reported and drawn
MAX_P_FIXED = 12     # enumerate every region's fixed point up to this P


def load_run(run_dir: Path) -> tuple[ALRNNConfig, dict]:
    from .train import load_weights
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"no run directory {run_dir}")
    if not (run_dir / "DONE").exists():
        raise UserError(f"run {run_dir} has not finished (no DONE marker)")
    kind = runs.read_json(run_dir / "config.json").get("kind")
    if kind != "alrnn":
        raise UserError(f"{run_dir} is not an AL-RNN run (its config.json says kind {kind!r})")
    cfg = ALRNNConfig.from_dict(runs.read_config(run_dir))
    return cfg, load_weights(run_dir, cfg)


def analyze(run_dir: Path) -> dict:
    """The analysis of a finished run, written to RUN/regions/."""
    cfg, params = load_run(run_dir)
    return analyze_model(cfg, params, Path(run_dir) / "regions", {"run": str(run_dir)})


def analyze_model(cfg: ALRNNConfig, params: dict, out: Path, extra: dict | None = None) -> dict:
    """The analysis of `params` on the test trials of `cfg`; figures and regions.json go to `out`."""
    out.mkdir(exist_ok=True)
    trials = data.make_split(cfg, "test")
    zs, y = model.predict(params, trials, cfg.backend)
    codes = bitcodes(zs, cfg.P, trials.length)
    uniq, counts, ids = unique_codes(codes)
    labels = code_strings(uniq)
    freqs = counts / counts.sum()
    C = transitions(ids, trials.length, len(counts))
    res = {**(extra or {}), "task": cfg.task, "P": cfg.P, "hidden": cfg.hidden, "steps": int(len(codes)),
           "codes_used": int(len(counts)), "codes_possible": 2.0 ** cfg.P,
           "histogram": [{"code": c, "freq": float(f)} for c, f in zip(labels[:50], freqs[:50])],
           "bit_flips_per_step": bit_flips(codes, trials.length),
           "transitions_top": _top_edges(C, labels), "regions": []}
    title = f"{cfg.task} M={cfg.hidden} P={cfg.P}"
    eigs = {}
    for i in range(min(TOP_REGIONS, len(counts))):
        ev = np.linalg.eigvals(jacobian(params, uniq[i]))
        eigs[labels[i] or "(linear)"] = ev
        real = fixed_point(params, uniq[i])[1]
        res["regions"].append({"code": labels[i], "freq": float(freqs[i]), "max_abs_eig": float(np.abs(ev).max()),
                               "eig_nearest_1": complex_pair(ev[np.argmin(np.abs(ev - 1))]),
                               "eigenvalues": [complex_pair(e) for e in ev[np.argsort(-np.abs(ev))]],
                               "fixed_point_real": real})
    if cfg.P <= MAX_P_FIXED:
        res["fixed_points"] = all_fixed_points(params)
    res.update(_task_specific(cfg, trials, codes, ids, len(counts), labels, out, title))
    plot_histogram(labels, freqs, out / "histogram.png", f"{title}: {len(counts)} of 2^{cfg.P} codes")
    plot_transitions(C, labels, out / "transitions.png", f"{title}: region transitions")
    plot_eigenvalues(eigs, out / "eigenvalues.png", f"{title}: J_Ω eigenvalues")
    runs.write_json(out / "regions.json", res)
    return res


def _top_edges(C, labels, n: int = 12) -> list:
    flat = np.argsort(-C, axis=None)[:n]
    return [{"from": labels[i], "to": labels[j], "freq": float(C[i, j])}
            for i, j in zip(*np.unravel_index(flat, C.shape)) if C[i, j] > 0]


def _task_specific(cfg, trials, codes, ids, n_codes, labels, out, title) -> dict:
    lengths = trials.length
    trial_of_step = np.repeat(np.arange(trials.n), lengths)
    step_of = np.concatenate([np.arange(L) for L in lengths])
    if cfg.task == "addition":
        marked = trials.s[step_of, trial_of_step, 1] > 0
        off = ids != 0                                   # outside the dominant region
        return {"gate": {"p_off_dominant_at_marks": float(off[marked].mean()),
                         "p_off_dominant_elsewhere": float(off[~marked].mean()),
                         "dominant_code": labels[0]}}
    if cfg.task == "context":
        dists = [distribution(ids[trials.task[trial_of_step] == c], n_codes) for c in (0, 1)]
        d = jsd(*dists)
        plot_matrix(np.array([[0, d], [d, 0]]), ["context 0", "context 1"], out / "jsd.png",
                    f"{title}: JSD between contexts")
        last = step_of == lengths[trial_of_step] - 1
        final = {f"context {c}": sorted({labels[i] for i in ids[last & (trials.task[trial_of_step] == c)]})[:8]
                 for c in (0, 1)}
        return {"jsd_between_contexts": d, "final_step_codes": final}
    if cfg.task == "multitask":
        names = list(cognitive.TASKS)
        dists = [distribution(ids[trials.task[trial_of_step] == i], n_codes) for i in range(len(names))]
        J = np.array([[jsd(p, q) for q in dists] for p in dists])
        plot_matrix(J, names, out / "jsd.png", f"{title}: JSD between tasks")
        return {"tasks": names, "jsd_matrix": J.tolist(), "jsd_mean": float(J[np.triu_indices(len(names), 1)].mean()),
                "codes_per_task": [int((d > 0).sum()) for d in dists]}
    return {}

"""Task structure of the multi-task AL-RNN (Fig. 5b): which tasks share linear subregions, over seeds.

Input: one 11 × 11 JSD matrix per seed (regions.py's jsd between the per-task bitcode distributions of one model,
log 2, ∈ [0, 1]; analyze.py stores it as "jsd_matrix" in RUN/regions/regions.json).

    J̄          the mean of the seeds' matrices
    order       the leaves of scipy.cluster.hierarchy.linkage(squareform(J̄), "average"): J̄ used as the distance
    within(G)   the mean of J[i, j] over the pairs i < j inside group G
    between     the mean of J[i, j] over i ∈ pro, j ∈ anti
Groups: pro = DelayPro, ReactPro, CatPro; anti = DelayAnti, ReactAnti, CatAnti. Each number is given per seed and as
mean ± std over the seeds (std with ddof 0, as the sweep's tables).
"""
from __future__ import annotations

import numpy as np

PRO = ("DelayPro", "ReactPro", "CatPro")
ANTI = ("DelayAnti", "ReactAnti", "CatAnti")


def within(J, idx) -> float:
    """Mean of J over the pairs i < j of the indices idx."""
    idx = list(idx)
    return float(np.mean([J[a, b] for k, a in enumerate(idx) for b in idx[k + 1:]]))


def between(J, a_idx, b_idx) -> float:
    """Mean of J[i, j] over i ∈ a_idx, j ∈ b_idx."""
    return float(np.mean(np.asarray(J)[np.ix_(list(a_idx), list(b_idx))]))


def cluster_order(J, names: list) -> tuple[list, np.ndarray]:
    """(task names in dendrogram leaf order, the SciPy linkage matrix) for average linkage on J as a distance."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform
    D = np.asarray(J, float)
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(np.clip(D, 0, None), checks=False), method="average")
    return [names[i] for i in leaves_list(Z)], Z


def groups(matrices, names: list, pro=PRO, anti=ANTI) -> dict:
    """The grouping numbers of a list of per-seed JSD matrices [n_seeds][11][11] over the tasks `names`."""
    mats = np.asarray(matrices, float)
    if mats.ndim != 3 or mats.shape[1:] != (len(names), len(names)) or len(mats) == 0:
        raise ValueError(f"need per-seed {len(names)}×{len(names)} matrices, got shape {mats.shape}")
    ip, ia = [names.index(t) for t in pro], [names.index(t) for t in anti]
    per = {"within_pro": [within(J, ip) for J in mats], "within_anti": [within(J, ia) for J in mats],
           "between_pro_anti": [between(J, ip, ia) for J in mats],
           "mean_all_pairs": [within(J, range(len(names))) for J in mats]}
    mean = mats.mean(0)
    order, Z = cluster_order(mean, names)
    out = {"tasks": list(names), "seeds": len(mats), "order": order, "linkage": Z.tolist(),
           "jsd_matrix_mean": mean.tolist()}
    for k, v in per.items():
        out[k] = {"mean": float(np.mean(v)), "std": float(np.std(v)), "per_seed": [float(x) for x in v]}
    return out


def sweep_groups(sweep_dir, P: int, per_task: int | None = None) -> dict:
    """groups() of the finished multitask runs at P in a sweep directory (the largest --per-task size unless given),
    from each run's regions/regions.json (computed if missing); writes groups[_n<N>]_P<P>.json and .png there."""
    from pathlib import Path

    from .. import runs
    from ..errors import UserError
    from .config import ALRNNConfig
    from .figures import plot_groups
    from .sweep import regions_job
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "sweep.json").is_file():
        raise UserError(f"{sweep_dir} is not a sweep directory (no sweep.json)")
    cfgs = []
    for run in sorted(p for p in sweep_dir.iterdir() if (p / "DONE").exists() and (p / "config.json").exists()):
        cfg = ALRNNConfig.from_dict(runs.read_config(run))
        if cfg.task == "multitask":
            cfgs.append((run, cfg))
    if not cfgs:
        raise UserError(f"{sweep_dir} has no finished multitask runs")
    sizes = sorted({c.per_task for _, c in cfgs})
    n = sizes[-1] if per_task is None else per_task
    chosen = [(run, c) for run, c in cfgs if c.P == P and c.per_task == n]
    if not chosen:
        raise UserError(f"{sweep_dir} has no finished multitask run at --P {P}"
                        + (f" and --per-task {n}" if n else "") + f" (sizes there: {', '.join(map(str, sizes))})")
    regs = [regions_job(str(run)) for run, _ in chosen]
    res = groups([r["jsd_matrix"] for r in regs], list(regs[0]["tasks"]))
    res = {"sweep": str(sweep_dir), "P": P, "per_task": n, "runs": [run.name for run, _ in chosen], **res}
    stem = f"groups{f'_n{n}' if n else ''}_P{P}"
    runs.write_json(sweep_dir / f"{stem}.json", res)
    plot_groups(res["jsd_matrix_mean"], res["tasks"], res["linkage"], sweep_dir / f"{stem}.png",
                f"P={P}{f', {n}/task' if n else ''}: JSD between tasks, mean of {res['seeds']} seeds")
    res["figure"] = str(sweep_dir / f"{stem}.png")
    return res

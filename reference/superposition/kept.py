"""Features kept against the hidden size (spec B7, "wider superposition"): finished vector-input runs grouped by
(model, k, p, N_x, N_h), one row per group, and the figure of features kept against N_h.

Per seed, from its result.json, with A_k = W_yᵀ W_h^k W_x [N_x, N_x] ("a"[k]) and K = features_kept (the i with
A_k[i, i] > 0.5; geometry.features_kept):
    kept        |K|
    diag_kept   mean_{i ∈ K} A_k[i, i]                  (None when K is empty)
    off_kept    mean_{i ≠ j, i, j ∈ K} A_k[i, j]          (None when |K| < 2)
    off_all     mean_{i ≠ j} A_k[i, j]                   (= result["offdiag_mean_WyT_Wk"])
    loss        the normalised loss (result["loss_normalised"]): a run whose weights blew up without becoming
                infinite (so training did not stop) can pass diag > 0.5 for every feature; its loss shows it
Per group: the mean and the sample standard deviation (ddof 1; 0 for one seed) of each over the seeds that have it,
and every seed's K.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError

GROUP_KEYS = ("model", "k", "p", "features", "hidden")
STATS = ("kept", "diag_kept", "off_kept", "off_all", "loss")


def finished_results(paths) -> list[dict]:
    """The result.json of every finished run (DONE) in `paths`: each path a run directory or a directory of them
    (a sweep). A path with neither is refused; so is a run with one input feature (nothing to keep)."""
    out = []
    for path in map(Path, paths):
        dirs = [path] if (path / "DONE").is_file() else sorted(d for d in path.glob("*") if (d / "DONE").is_file())
        if not dirs:
            raise UserError(f"{path} holds no finished run (no DONE)")
        for d in dirs:
            r = runs.read_json(d / "result.json")
            if r.get("features", 1) < 2:
                raise UserError(f"{d} has one input feature; features kept need --features >= 2")
            out.append(r)
    return out


def seed_stats(result: dict) -> dict:
    """kept, diag_kept, off_kept, off_all, loss of one run (the module docstring)."""
    A_k = np.asarray(result["a"][result["k"]], dtype=np.float64)
    K = list(result["features_kept"])
    sub = A_k[np.ix_(K, K)]
    return {"kept": len(K), "diag_kept": float(np.diag(sub).mean()) if K else None,
            "off_kept": float(sub[~np.eye(len(K), dtype=bool)].mean()) if len(K) >= 2 else None,
            "off_all": float(A_k[~np.eye(A_k.shape[0], dtype=bool)].mean()), "loss": result["loss_normalised"]}


def _mean_std(values: list) -> tuple:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return None, None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def kept_table(results: list[dict]) -> list[dict]:
    """One row per (model, k, p, N_x, N_h), sorted by those: seeds, mean and std of every STATS entry, the seeds'
    kept lists. Two results of the same group and seed are refused (the same run given twice)."""
    groups: dict[tuple, list] = {}
    for r in results:
        groups.setdefault(tuple(r[k] for k in GROUP_KEYS), []).append(r)
    rows = []
    for key, rs in sorted(groups.items()):
        seeds = [r["seed"] for r in rs]
        if len(set(seeds)) != len(seeds):
            raise UserError(f"{dict(zip(GROUP_KEYS, key))}: a seed appears twice")
        rs = sorted(rs, key=lambda r: r["seed"])
        st = [seed_stats(r) for r in rs]
        row = dict(zip(GROUP_KEYS, key)) | {"seeds": sorted(seeds), "n_seeds": len(rs)}
        for name in STATS:
            row[name + "_mean"], row[name + "_std"] = _mean_std([s[name] for s in st])
        row["kept_per_seed"] = [s["kept"] for s in st]
        row["features_kept"] = [r["features_kept"] for r in rs]
        rows.append(row)
    return rows


def plot_kept_vs_hidden(rows: list[dict], path: Path) -> None:
    """Features kept (mean ± std over seeds, every seed a dot) against N_h, one line per (model, k, p, N_x); the
    lines N_kept = N_h and N_kept = N_x for reference. Right: mean diag of the kept features and mean off-diagonal
    of W_yᵀW_k (among the kept, and over all pairs)."""
    from ..plots import save_png
    from .figures import _plt

    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
    lines: dict[tuple, list] = {}
    for r in rows:
        lines.setdefault((r["model"], r["k"], r["p"], r["features"]), []).append(r)
    hs = sorted({r["hidden"] for r in rows})
    ax[0].plot(hs, hs, color="k", lw=0.6, ls=":", label="N_h")
    for (model, k, p, nx), line in sorted(lines.items()):
        line = sorted(line, key=lambda r: r["hidden"])
        h = [r["hidden"] for r in line]
        lab = f"{model} k={k} p={p:g} N_x={nx}"
        eb = ax[0].errorbar(h, [r["kept_mean"] for r in line], yerr=[r["kept_std"] for r in line], marker="o",
                            capsize=3, label=lab)
        c = eb[0].get_color()
        for r in line:
            ax[0].scatter([r["hidden"]] * r["n_seeds"], r["kept_per_seed"], s=8, color=c, alpha=0.35)
        ax[0].axhline(nx, color=c, lw=0.6, ls="--", label=f"N_x = {nx}")
        for key, style, what in (("diag_kept", "-o", "diag, kept"), ("off_kept", "--s", "off-diag, kept"),
                                 ("off_all", ":^", "off-diag, all")):
            pts = [(r["hidden"], r[key + "_mean"], r[key + "_std"]) for r in line if r[key + "_mean"] is not None]
            if pts:
                x, y, e = zip(*pts)
                ax[1].errorbar(x, y, yerr=e, fmt=style, color=c, capsize=2, label=f"{what} ({lab})")
    ax[0].set(xscale="log", xlabel="N_h", ylabel="features kept (diag W_yᵀW_k > 0.5)",
              title="features kept: mean ± std over seeds, dots = seeds")
    ax[0].set_xticks(hs, [str(h) for h in hs])
    ax[1].axhline(0, color="k", lw=0.5)
    ax[1].set(xscale="log", xlabel="N_h", ylabel="W_yᵀW_k entries", title="mean ± std over seeds")
    ax[1].set_xticks(hs, [str(h) for h in hs])
    for a in ax:
        a.minorticks_off()
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    save_png(fig, path)
    plt.close(fig)

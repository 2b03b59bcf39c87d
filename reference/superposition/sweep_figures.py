"""Figures of a (model, p, k) sweep (from sweep.aggregate's rows), PNG through plots.save_png.

    phase_transition_k<k>.png   kθ, ρ(W_h) and the normalised loss against p for each model at one k
                                (line: lowest-loss seed; dots: every seed)
    phase_diagram.png           the SSM's kθ over the (p, k) plane (lowest-loss seed), with the fraction of
                                seeds in the interference-free geometry in each cell
    features_kept.png           vector inputs: diag(W_yᵀ W_k) of the lowest-loss seed, one row per (model, k, p)
    seeds_geometry.png          one feature: every seed at (max_{s≠k} a_s, a_k), one panel per (model, k), colour
                                = p; the interference-free corner (a_k ≥ 0.9, every other a_s ≤ 0.05) shaded
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import save_png
from .figures import _plt

SYMLOG_TICKS = (-100, -30, -10, -3, -1, -0.5, 0, 0.5, 0.9, 1.5, 3, 10, 30, 100)
COLORS = {"linear": "tab:blue", "ssm": "tab:orange", "relu": "tab:green"}


def plot_phase_transition(rows: list, k: int, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.4))
    for model in sorted({r["model"] for r in rows}):
        line = sorted((r for r in rows if r["model"] == model and r["k"] == k), key=lambda r: r["p"])
        if not line:
            continue
        ps = [r["p"] for r in line]
        c = COLORS.get(model)
        for i, key in enumerate(("k_theta_deg", "spectral_radius", "loss_normalised")):
            ax[i].plot(ps, [r[key] for r in line], marker="o", color=c, label=model)
            for r in line:
                ax[i].scatter([r["p"]] * len(r["all_seeds"]), [s[key] for s in r["all_seeds"]], s=8, color=c,
                              alpha=0.3)
    ax[0].axhline(270, color="k", lw=0.5, ls="--")
    ax[0].axhline(90, color="k", lw=0.5, ls=":")
    for a, lab in zip(ax, ("kθ (deg)", "ρ(W_h)", "loss / Var(X)")):
        a.set(xscale="log", xlabel="p (probability a feature is active)", ylabel=lab)
        a.grid(alpha=0.3)
    ax[0].set_title(f"k = {k}: line = lowest-loss seed, dots = every seed")
    ax[0].legend()
    save_png(fig, path)
    plt.close(fig)


def plot_phase_diagram(rows: list, path: Path, model: str = "ssm") -> None:
    rows = [r for r in rows if r["model"] == model]
    if not rows:
        return
    plt = _plt()
    ps = sorted({r["p"] for r in rows}, reverse=True)
    ks = sorted({r["k"] for r in rows})
    grid = np.full((len(ks), len(ps)), np.nan)
    frac = np.full((len(ks), len(ps)), np.nan)
    for r in rows:
        i, j = ks.index(r["k"]), ps.index(r["p"])
        grid[i, j] = np.nan if r["k_theta_deg"] is None else r["k_theta_deg"]
        frac[i, j] = r["fraction_interference_free"]
    fig, ax = plt.subplots(figsize=(1.1 * len(ps) + 2, 0.7 * len(ks) + 1.6))
    im = ax.imshow(grid, cmap="twilight", vmin=0, vmax=360, aspect="auto")
    fig.colorbar(im, ax=ax, label="kθ (deg), lowest-loss seed")
    for i in range(len(ks)):
        for j in range(len(ps)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}°\n{frac[i, j]:.0%}", ha="center", va="center", fontsize=7,
                        color="w" if 90 < grid[i, j] < 270 else "k")
    ax.set_xticks(range(len(ps)), [f"{p:g}" for p in ps])
    ax.set_yticks(range(len(ks)), [str(k) for k in ks])
    ax.set(xlabel="p", ylabel="k", title=f"{model}: kθ and the fraction of seeds interference-free")
    save_png(fig, path)
    plt.close(fig)


def plot_features_kept(rows: list, path: Path) -> None:
    plt = _plt()
    diag = np.array([r["diag_WyT_Wk"] for r in rows])
    fig, ax = plt.subplots(figsize=(0.5 * diag.shape[1] + 2.5, 0.4 * len(rows) + 1.4))
    v = max(float(np.abs(diag).max()), 1e-9)
    im = ax.imshow(diag, cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto")
    fig.colorbar(im, ax=ax, label="diag(W_yᵀ W_k)")
    ax.set_yticks(range(len(rows)), [f"{r['model']} k={r['k']} p={r['p']:g}" for r in rows], fontsize=7)
    ax.set(xlabel="feature (importance 0.9^i)", title="features kept: diag > 0.5 (lowest-loss seed)")
    for i, r in enumerate(rows):
        for j in r["features_kept"]:
            ax.text(j, i, "✓", ha="center", va="center", fontsize=8)
    save_png(fig, path)
    plt.close(fig)


def plot_seed_geometry(rows: list, path: Path) -> None:
    """Every seed of the one-feature cells in `rows` (their all_seeds, with "a"; the ReLU RNN's a_impulse):
    x = max_{s≠k} a_s, y = a_k, both on a symlog scale. A seed in the shaded corner is interference-free."""
    from .sweep import A_K_MIN, A_OTHER_MAX

    plt = _plt()
    from matplotlib.ticker import FormatStrFormatter, NullLocator
    panels = sorted({(r["model"], r["k"]) for r in rows})
    ps = sorted({r["p"] for r in rows})
    cmap = plt.get_cmap("viridis")
    colour = {p: cmap(i / max(len(ps) - 1, 1)) for i, p in enumerate(ps)}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.6, 3.6), squeeze=False)
    for ax, (model, k) in zip(axes[0], panels):
        for r in sorted((r for r in rows if (r["model"], r["k"]) == (model, k)), key=lambda r: r["p"]):
            pts = []
            for sd in r["all_seeds"]:
                a = sd.get("a_impulse") or sd["a"]
                pts.append((max((v for s, v in enumerate(a) if s != k), default=0.0), a[k]))
            n_free = sum(bool(sd.get("interference_free")) for sd in r["all_seeds"])
            x, y = zip(*pts)
            ax.scatter(x, y, s=14, color=colour[r["p"]], alpha=0.8,
                       label=f"p={r['p']:g}: {n_free}/{len(pts)} interference-free")
        ax.set(xscale="symlog", yscale="symlog", xlabel="max over s ≠ k of a_s", ylabel="a_k",
               title=f"{model} k = {k}: every seed")
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        x0, x1, y0, y1 = min(x0, -0.1), max(x1, 2.0), min(y0, -0.1), max(y1, 2.0)
        ax.fill_between([x0, A_OTHER_MAX], A_K_MIN, y1, color="0.88", zorder=0, label="interference-free")
        ax.axhline(A_K_MIN, color="k", lw=0.6, ls="--")
        ax.axvline(A_OTHER_MAX, color="k", lw=0.6, ls="--")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        for axis, (lo, hi) in ((ax.xaxis, (x0, x1)), (ax.yaxis, (y0, y1))):
            axis.set_ticks([t for t in SYMLOG_TICKS if lo <= t <= hi])
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_locator(NullLocator())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_png(fig, path)
    plt.close(fig)


def sweep_figures(summary: dict, out: Path) -> list:
    """Every sweep figure into `out`; the list of files written."""
    out = Path(out)
    vector = [r for r in summary["cells"] if r["diag_WyT_Wk"] is not None]
    rows = [r for r in summary["cells"] if r["diag_WyT_Wk"] is None]
    written = []
    if vector:
        plot_features_kept(vector, out / "features_kept.png")
        written.append(out / "features_kept.png")
    for k in sorted({r["k"] for r in rows}):
        plot_phase_transition(rows, k, out / f"phase_transition_k{k}.png")
        written.append(out / f"phase_transition_k{k}.png")
    seeded = [r for r in rows if r["all_seeds"] and "a" in r["all_seeds"][0]]   # summaries from before lack "a"
    if seeded:
        plot_seed_geometry(seeded, out / "seeds_geometry.png")
        written.append(out / "seeds_geometry.png")
    if any(r["model"] == "ssm" for r in rows):
        plot_phase_diagram(rows, out / "phase_diagram.png")
        written.append(out / "phase_diagram.png")
    return [str(p) for p in written]

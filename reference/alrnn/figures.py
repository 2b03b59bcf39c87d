"""The AL-RNN lab's figures (PNG, matplotlib Agg, written atomically through plots.save_png).

    curves.png        train loss and test accuracy against the epoch
    histogram.png     relative frequency of each distinct bitcode, sorted
    transitions.png   the region graph of the most used codes (edge width ∝ transition frequency)
    eigenvalues.png   Jacobian eigenvalues of the most used regions, with the unit circle
    jsd.png           a matrix of Jensen–Shannon divergences between groups (tasks, contexts)
    groups_P<P>.png   the seed-mean JSD matrix between tasks in dendrogram order, with the dendrogram (task_groups.py)
    vs_P.png          a metric against P, mean ± std over seeds
    gradients.png     ‖∂L/∂z_t‖ per step t of a few gradient profiles (alrnn/gradflow.py), log scale
    dynamics.png      a copy run's code occupancy over time, the delay / recall regions' eigenvalues, ReLU activity
                      (alrnn/dynamics.py)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import save_png


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(metrics: list, path: Path, title: str) -> None:
    if not metrics:
        return
    plt = _plt()
    ep = [m["epoch"] for m in metrics]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].semilogy(ep, [m["train_loss"] for m in metrics], marker=".")
    ax[0].set(xlabel="epoch", ylabel="train loss (+MAR)", title=title)
    ax[1].plot(ep, [m["test"]["accuracy"] for m in metrics], marker=".")
    ax[1].set(xlabel="epoch", ylabel="test accuracy", ylim=(-0.02, 1.02))
    for a in ax:
        a.grid(alpha=0.3)
    save_png(fig, Path(path))
    plt.close(fig)


def plot_histogram(labels: list, freqs, path: Path, title: str, top: int = 30) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    n = min(top, len(freqs))
    ax.bar(range(n), freqs[:n])
    if max((len(s) for s in labels[:n]), default=0) <= 12:
        ax.set_xticks(range(n), labels[:n], rotation=90, fontsize=7)
    ax.set(xlabel=f"bitcode (top {n} of {len(freqs)})", ylabel="relative frequency", title=title)
    save_png(fig, Path(path))
    plt.close(fig)


def plot_transitions(C, labels: list, path: Path, title: str, top: int = 10) -> None:
    """The most used codes on a circle; an arrow i → j whose width grows with C[i, j]; self-loops as dot size."""
    plt = _plt()
    n = min(top, C.shape[0])
    ang = 2 * np.pi * np.arange(n) / max(n, 1)
    xy = np.stack([np.cos(ang), np.sin(ang)], 1)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    cmax = C[:n, :n].max() if n else 1
    for i in range(n):
        for j in range(n):
            if i != j and C[i, j] > 0:
                ax.annotate("", xy=xy[j], xytext=xy[i], arrowprops=dict(
                    arrowstyle="->", lw=0.5 + 4 * C[i, j] / cmax, alpha=0.6, connectionstyle="arc3,rad=0.15"))
    ax.scatter(xy[:, 0], xy[:, 1], s=100 + 1500 * np.diag(C)[:n] / max(cmax, 1e-12), zorder=3)
    for i in range(n):
        ax.text(*(1.18 * xy[i]), labels[i] if len(labels[i]) <= 12 else f"#{i}", ha="center", fontsize=7)
    ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), title=title)
    ax.axis("off")
    save_png(fig, Path(path))
    plt.close(fig)


def plot_eigenvalues(eigs: dict, path: Path, title: str) -> None:
    """eigs: {label: complex eigenvalues} for a few regions."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), "k-", lw=0.7)
    for label, ev in eigs.items():
        ax.scatter(np.real(ev), np.imag(ev), s=14, label=label if len(label) <= 12 else label[:12] + "…", alpha=0.7)
    ax.set(xlabel="Re λ", ylabel="Im λ", title=title, aspect="equal")
    ax.legend(fontsize=6, title="region", title_fontsize=7)
    ax.grid(alpha=0.3)
    save_png(fig, Path(path))
    plt.close(fig)


def plot_matrix(mat, labels: list, path: Path, title: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * len(labels), 1.2 + 0.45 * len(labels)))
    im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(im, ax=ax, label="JSD (bits)")
    ax.set_title(title, fontsize=9)
    save_png(fig, Path(path))
    plt.close(fig)


def plot_vs_P(series: dict, path: Path, ylabel: str, title: str, log_y: bool = False) -> None:
    """series: {label: (P values, means, stds)}; the x-axis is P on a symlog scale (P = 0 shown)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    for label, (Ps, mean, std) in series.items():
        ax.errorbar(Ps, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.set_xscale("symlog", linthresh=1)
    if log_y:
        ax.set_yscale("log")
    ax.set(xlabel="P (ReLU units)", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=7)
    save_png(fig, Path(path))
    plt.close(fig)


def plot_grad_norms(profiles: list, path: Path, title: str) -> None:
    """profiles: gradflow.run_profile dicts; one line per profile (its "label"), the earliest readout step dashed.
    Zeros (a gradient below float64's range) are left out of the log-scale plot."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for prof in profiles:
        v = np.array(prof["state"], float)
        ax.semilogy(np.flatnonzero(v > 0), v[v > 0], marker=".", ms=3, label=prof["label"])
    for first in sorted({prof["first_readout"] for prof in profiles}):
        ax.axvline(first, color="k", ls="--", lw=0.7)
    ax.set(xlabel="step t (dashed: the first readout)", ylabel="mean per-trial ‖∂L/∂z_t‖", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6)
    save_png(fig, Path(path))
    plt.close(fig)


def plot_groups(mean, names: list, Z, path: Path, title: str) -> None:
    """The matrix `mean` [n, n] with rows and columns in the leaf order of the linkage Z, the dendrogram above it."""
    from scipy.cluster.hierarchy import dendrogram
    plt = _plt()
    n = len(names)
    fig = plt.figure(figsize=(2 + 0.45 * n, 2.6 + 0.45 * n))
    top = fig.add_axes([0.22, 0.78, 0.6, 0.14])
    leaves = dendrogram(np.asarray(Z), ax=top, no_labels=True, color_threshold=0, above_threshold_color="k")["leaves"]
    top.set_axis_off()
    top.set_title(title, fontsize=9)
    ax = fig.add_axes([0.22, 0.16, 0.6, 0.6])
    m = np.asarray(mean)[np.ix_(leaves, leaves)]
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    labels = [names[i] for i in leaves]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    fig.colorbar(im, cax=fig.add_axes([0.85, 0.16, 0.03, 0.6]), label="JSD (bits)")
    save_png(fig, Path(path))
    plt.close(fig)


def plot_dynamics(occupancy, labels: list, bounds: dict, eigs: dict, relu, path: Path, title: str) -> None:
    """Three panels: occupancy [T, k + 1] stacked over the steps with the phase boundaries (bounds: {phase: (start,
    stop)}) dashed; eigs {label: complex eigenvalues} with the unit circle; relu [T, n, P] (the ReLU units' state z_t
    of n trials, one colour per trial, one line style per unit; P = 0: a note)."""
    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [1.3, 1, 1.3]})
    T = occupancy.shape[0]
    shown = occupancy.shape[1] - (occupancy[:, -1].max() == 0)          # no "other" band if it is empty
    ax[0].stackplot(np.arange(T), occupancy[:, :shown].T, labels=labels[:shown], step="mid", alpha=0.85)
    ax[0].set(xlabel="step t", ylabel="fraction of trials", title=f"{title}: code occupancy", xlim=(0, T - 1),
              ylim=(0, 1))
    ax[0].legend(fontsize=6, title="bitcode", title_fontsize=7, loc="lower left")
    t = np.linspace(0, 2 * np.pi, 200)
    ax[1].plot(np.cos(t), np.sin(t), "k-", lw=0.7)
    for (label, ev), marker in zip(eigs.items(), "o^sD"):
        ax[1].scatter(np.real(ev), np.imag(ev), s=18, marker=marker, alpha=0.6, label=label[:32])
    ax[1].set(xlabel="Re λ", ylabel="Im λ", title="J_Ω eigenvalues", aspect="equal")
    ax[1].legend(fontsize=6)
    ax[1].grid(alpha=0.3)
    n, P = relu.shape[1], relu.shape[2]
    for u, ls in zip(range(min(P, 3)), ("-", "--", ":")):
        for b in range(n):
            ax[2].plot(relu[:, b, u], ls, color=f"C{b}", marker=".", ms=3, lw=1, label=f"trial {b}" if u == 0 else None)
    if P == 0:
        ax[2].text(0.5, 0.5, "P = 0: no ReLU units", transform=ax[2].transAxes, ha="center")
    ax[2].axhline(0, color="k", lw=0.7)
    ax[2].set(xlabel="step t", ylabel="ReLU unit state z_t (on if > 0)", title="ReLU units, a few trials")
    if P:
        ax[2].legend(fontsize=6)
    for a in (ax[0], ax[2]):
        for name, (lo, hi) in bounds.items():
            a.axvline(lo - 0.5, color="k", ls="--", lw=0.7)
            a.text((lo + hi - 1) / 2, 1.0, name, transform=a.get_xaxis_transform(), fontsize=7, va="bottom",
                   ha="center")
        a.set_title(a.get_title(), pad=14)
    save_png(fig, Path(path))
    plt.close(fig)

"""Figures of one delayed-recall run (PNG, written atomically through plots.save_png).

    trace.png      a_s over training (the paper's "staircase") and the train loss (with the four analytic terms
                   for the linear model)
    geometry.png   N_h = 2: the arrows w_0..w_k (N_x = 1; the ReLU RNN's response to one event) or the feature columns of W_k (N_x > 1, e.g. the TMS
                   pentagon at k = 0), the readout w_y, the interference-free half-plane {w : w_yᵀ w ≤ 0} shaded
    projections.png  N_x > 1: the heat map of W_yᵀ W_k
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import save_png
from . import geometry as G
from .model import readout_weight


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_trace(metrics: list, cfg, path: Path) -> None:
    """a_s (s = 0..k; the diagonal of A_s for vector inputs) and the train loss against the step."""
    plt = _plt()
    steps = [m["step"] for m in metrics]
    a = np.array([m["a"] for m in metrics])                   # [rows, k+1] or [rows, k+1, N_x]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    for s in range(cfg.k + 1):
        ax[0].plot(steps, a[:, s] if a.ndim == 2 else a[:, s, 0], label=f"a_{s}", lw=2 if s == cfg.k else 1)
    ax[0].axhline(0, color="k", lw=0.5)
    ax[0].set(xscale="log", xlabel="step (log)", ylabel="a_s = w_yᵀ W_h^s W_x" + (" (feature 0)" if a.ndim == 3 else ""),
              title=f"{cfg.model} k={cfg.k} p={cfg.p:g} seed {cfg.seed}")
    ax[0].legend(fontsize=7, ncol=2)
    ax[1].loglog(steps, [m["train_loss"] for m in metrics], label="train loss (empirical)", color="k")
    if "analytic_loss" in metrics[0]:       # the linear model: the four terms and their sum
        ax[1].loglog(steps, [m["analytic_loss"]["total"] for m in metrics], ls="--", color="tab:red",
                     label="analytic (sum)")
        for term in ("task", "projection_interference"):
            ax[1].loglog(steps, [m["analytic_loss"][term] for m in metrics], lw=0.8, label=term)
        for term in ("composition_interference", "mean_correction", "bias"):
            ax[1].loglog(steps, [abs(m["analytic_loss"][term]) for m in metrics], lw=0.8, ls=":",
                         label=f"|{term}|")
        ax[1].legend(fontsize=6)
    ax[1].set(xlabel="step (log)", ylabel="loss")
    for x in ax:
        x.grid(alpha=0.3)
    save_png(fig, path)
    plt.close(fig)


def draw_geometry(ax, params: dict, cfg, title: str = "") -> None:
    """N_h = 2: arrows of w_0..w_k (N_x = 1) or of the columns of W_k (N_x > 1), the readout direction(s), and
    the half-plane w_yᵀ w ≤ 0 shaded (N_x = 1)."""
    W_x, W_h = params["weight_ih"], params["weight_hh"]
    W_y, _ = readout_weight(params, cfg.model_config())
    Ws = G.impulse_response(W_x, W_h, cfg.k, cfg.model == "relu")   # W_h^s W_x unless the recurrence is ReLU
    vecs = Ws[:, :, 0] if cfg.features == 1 else Ws[cfg.k].T
    r = max(float(np.abs(vecs).max()), float(np.abs(W_y).max()), 1e-9) * 1.15
    if cfg.features == 1:
        wy = W_y[:, 0] / max(np.linalg.norm(W_y[:, 0]), 1e-12)
        # the half-plane behind the line orthogonal to w_y
        perp = np.array([-wy[1], wy[0]]) * 3 * r
        poly = np.array([perp, perp - 3 * r * wy, -perp - 3 * r * wy, -perp])
        ax.fill(poly[:, 0], poly[:, 1], color="tab:green", alpha=0.12, label="w_yᵀw ≤ 0 (free)")
        ax.annotate("", xy=W_y[:, 0], xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="k", lw=2))
        ax.text(*(W_y[:, 0] * 1.05), "w_y", fontsize=9)
    colors = _plt().cm.viridis(np.linspace(0, 0.9, len(vecs)))
    for i, (v, c) in enumerate(zip(vecs, colors)):
        ax.annotate("", xy=v, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=c, lw=1.5))
        ax.text(*(v * 1.07), f"w_{i}" if cfg.features == 1 else f"x{i}", fontsize=8, color=c)
    ax.set(xlim=(-r, r), ylim=(-r, r), aspect="equal", title=title)
    ax.axhline(0, color="k", lw=0.3)
    ax.axvline(0, color="k", lw=0.3)


def plot_geometry(params: dict, cfg, result: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 4))
    th = result.get("k_theta_deg")
    draw_geometry(ax, params, cfg, f"{cfg.model} k={cfg.k} p={cfg.p:g}  ρ={result['spectral_radius']:.2f}"
                  + (f"  kθ={th:.0f}°" if th is not None else ""))
    save_png(fig, path)
    plt.close(fig)


def plot_projection_matrix(A_k: np.ndarray, title: str, path: Path) -> None:
    """Heat map of W_yᵀ W_k [N_x, N_x] with a symmetric colour scale."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 3.4))
    v = max(float(np.abs(A_k).max()), 1e-9)
    im = ax.imshow(A_k, cmap="RdBu_r", vmin=-v, vmax=v)
    fig.colorbar(im, ax=ax)
    ax.set(xlabel="input feature j", ylabel="output feature i", title=title)
    save_png(fig, path)
    plt.close(fig)


def run_figures(metrics: list, params: dict, cfg, result: dict, run_dir: Path) -> None:
    run_dir = Path(run_dir)
    if metrics:
        plot_trace(metrics, cfg, run_dir / "trace.png")
    if cfg.hidden == 2:
        plot_geometry(params, cfg, result, run_dir / "geometry.png")
    if cfg.features > 1:
        A_k = np.asarray(result["a"])[cfg.k]
        plot_projection_matrix(A_k, f"W_yᵀ W_{cfg.k}  ({cfg.model}, N_h={cfg.hidden})", run_dir / "projections.png")


def plot_geometry_panels(items: list, path: Path) -> None:
    """Several 2-D models side by side: items = [(params, cfg, result)], one geometry panel each."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(items), figsize=(3.6 * len(items), 3.8), squeeze=False)
    for ax, (params, cfg, result) in zip(axes[0], items):
        th = result.get("k_theta_deg")
        draw_geometry(ax, params, cfg, f"{cfg.model} k={cfg.k} p={cfg.p:g}\nρ={result['spectral_radius']:.2f}"
                      + (f"  kθ={th:.0f}°" if th is not None else ""))
    save_png(fig, path)
    plt.close(fig)

"""Figures of a run, saved as PNG beside the numbers (matplotlib, Agg backend, written atomically).

    curves.png      validation score and train loss against the step
    per_length.png  final score per sequence length
"""
from __future__ import annotations

import io
from pathlib import Path

from .runs import atomic_write_bytes


def png_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes, tight box (so a caller can check everything before it writes anything)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_png(fig, path: Path) -> None:
    """Write a matplotlib figure as a PNG, atomically (dpi 110, tight box)."""
    atomic_write_bytes(path, png_bytes(fig))


def figure_png(fig, dpi: int = 100) -> bytes:
    """Lay the figure out, return it as PNG bytes (png_bytes) and close it: the last line of every figure function
    that returns bytes (onion/figures.py, onion/figures_beyond.py)."""
    fig.tight_layout()
    data = png_bytes(fig, dpi=dpi)
    pyplot().close(fig)
    return data


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_run(metrics: list, out_dir: Path, score_key: str = "accuracy", title: str = "") -> None:
    """curves.png and per_length.png from metrics.jsonl rows {"step", "valid": {score_key, "per_length"}, ...}."""
    plt = pyplot()
    if not metrics:
        return
    steps = [m["step"] for m in metrics]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(steps, [m["valid"][score_key] for m in metrics], marker=".")
    ax[0].set(xlabel="step", ylabel=f"valid {score_key}", ylim=(-0.02, 1.02), title=title)
    ax[0].grid(alpha=0.3)
    losses = [(m["step"], m["train_loss"]) for m in metrics if m.get("train_loss") is not None]
    if losses:
        ax[1].semilogy(*zip(*losses), marker=".")
    ax[1].set(xlabel="step", ylabel="train loss")
    ax[1].grid(alpha=0.3)
    save_png(fig, Path(out_dir) / "curves.png")
    plt.close(fig)

    per = metrics[-1]["valid"]["per_length"]
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.bar([str(k) for k in per], list(per.values()))
    ax.set(xlabel="sequence length", ylabel=score_key, ylim=(0, 1.02), title=f"{title} step {steps[-1]}")
    save_png(fig, Path(out_dir) / "per_length.png")
    plt.close(fig)

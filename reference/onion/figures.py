"""The paper's figures (matplotlib, Agg), each returned as PNG bytes so the caller writes nothing until all exist.

    metric_vs_hidden     IIA or probe accuracy against the hidden size, mean ± std over seeds, both decoder variants
    per_length_by_hidden a score per sequence length, one line per hidden size, one panel per variant
    metric_by_cell       accuracy, IIA and probes of every recurrent cell side by side (sweep --cells)
    onion_scales_by_cell the learned onion's scale per position of every cell, mean ± std over seeds (sweep --cells)
    gate_heatmap         1 − z (how much each step overwrites each channel) over encoder and decoder steps
    pair_difference      |h'(t) − h(t)| of two inputs differing in one token, over encoder and decoder steps
    state_differences    |h(x') − h(x)| for x' = x with token i changed, for every i (log scale: the onion's layers)
    onion_scale          the learned |g ⊙ γ^p + p·ℓ + b| per channel against the position p (log axis)
    per_length           one run's scores per sequence length
    per_position         the unigram intervention one position at a time, its channels per position, the linear
                         probe's and the model's token accuracy per position (positions.py)

The figures of the questions beyond the paper (issue 21) are in figures_beyond.py.
"""
from __future__ import annotations

import numpy as np

from ..plots import figure_png, pyplot

STYLE = {"ar": "-", "noinput": "--"}
LABEL = {"ar": "AR", "noinput": "no input"}


def metric_vs_hidden(rows: list, quantities: dict, ylabel: str, title: str) -> bytes:
    """rows: report_table.table rows; quantities: {key: label}. One line per quantity × variant, error bars = std."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    hidden = sorted({r["hidden"] for r in rows})
    for i, (q, label) in enumerate(quantities.items()):
        for variant in ("ar", "noinput"):
            pts = [(r["hidden"], r[q]) for r in rows if r["variant"] == variant and q in r]
            if not pts:
                continue
            x = [h for h, _ in pts]
            ax.errorbar(x, [e["mean"] for _, e in pts], yerr=[e["std"] for _, e in pts], color=f"C{i}",
                        linestyle=STYLE[variant], marker="o", ms=4, capsize=3, label=f"{label} ({LABEL[variant]})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(hidden, [str(h) for h in hidden])
    ax.minorticks_off()
    ax.set(xlabel="hidden size N", ylabel=ylabel, ylim=(-0.03, 1.03), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure_png(fig)


def metric_by_cell(rows: list, quantities: dict) -> bytes:
    """rows: report_table.table rows of several cells; quantities: {key: label}. One panel per (hidden size, variant),
    one group of bars per cell (in the rows' order), one bar per quantity; error bars = std over seeds."""
    plt = pyplot()
    panels = {}
    for r in rows:
        panels.setdefault((r["hidden"], r["variant"]), []).append(r)
    most = max(len(cells) for cells in panels.values())
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 3 + 0.9 * most), 3 * len(panels)), squeeze=False)
    width = 0.8 / max(len(quantities), 1)
    for ax, ((H, variant), cells) in zip(axes[:, 0], panels.items()):
        for i, (q, label) in enumerate(quantities.items()):
            x = [j + (i - (len(quantities) - 1) / 2) * width for j, r in enumerate(cells) if q in r]
            e = [r[q] for r in cells if q in r]
            ax.bar(x, [v["mean"] for v in e], width, yerr=[v["std"] for v in e], color=f"C{i}", capsize=2,
                   label=label)
        ax.set_xticks(range(len(cells)), [f"{r.get('cell', 'gru')}\n(n={len(r['seeds'])})" for r in cells],
                      fontsize=8)
        ax.set(ylabel="score", ylim=(0, 1.03), title=f"N = {H}, {LABEL[variant]} decoder")
        ax.grid(alpha=0.3, axis="y")
    axes[0, 0].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure_png(fig)


def onion_scales_by_cell(rows: list) -> bytes:
    """rows: report_table.table rows whose onion entry has "scales" (s_p = median over channels of |g ⊙ γ^p + p·ℓ +
    b|, stats over seeds). One panel per (hidden size, variant), one line per cell against p, log axis."""
    plt = pyplot()
    rows = [r for r in rows if "scales" in r.get("onion", {})]
    panels = list(dict.fromkeys((r["hidden"], r["variant"]) for r in rows))
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.2 * max(len(panels), 1), 3.6), squeeze=False)
    for ax, (H, variant) in zip(axes[0], panels):
        for i, r in enumerate(r for r in rows if (r["hidden"], r["variant"]) == (H, variant)):
            s = r["onion"]["scales"]
            ax.errorbar(range(len(s)), [e["mean"] for e in s], yerr=[e["std"] for e in s], marker="o", ms=3,
                        capsize=2, color=f"C{i % 10}", linestyle="-" if i < 10 else "--",
                        label=f"{r.get('cell', 'gru')} (IIA {r['onion']['mean']:.2f}, n={r['onion']['n']})")
        ax.set_yscale("log")
        ax.set(xlabel="position p (0-based)", ylabel="median over channels of |scale(p)|",
               title=f"learned onion scale, N = {H}, {LABEL[variant]}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure_png(fig)


def per_length_by_hidden(rows: list, q: str, ylabel: str, title: str) -> bytes:
    """rows' per-length stats of quantity q: one panel per variant, one line per hidden size."""
    plt = pyplot()
    variants = [v for v in ("ar", "noinput") if any(r["variant"] == v and q in r for r in rows)]
    fig, axes = plt.subplots(1, max(len(variants), 1), figsize=(4.2 * max(len(variants), 1), 3.2), squeeze=False)
    for ax, variant in zip(axes[0], variants):
        for i, r in enumerate(r for r in rows if r["variant"] == variant and q in r):
            per = r[q]["per_length"]
            ax.errorbar(list(per), [s["mean"] for s in per.values()], yerr=[s["std"] for s in per.values()],
                        marker="o", ms=3, capsize=2, color=f"C{i}", label=f"N={r['hidden']}")
        ax.set(xlabel="sequence length", ylabel=ylabel, ylim=(-0.03, 1.03), title=f"{title} ({LABEL[variant]})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return figure_png(fig)


def gate_heatmap(one_minus_z: np.ndarray, step_labels: list, n_encoder: int, title: str) -> bytes:
    """one_minus_z [H, T] over T = encoder then decoder steps; a line separates the two phases."""
    plt = pyplot()
    H, T = one_minus_z.shape
    fig, ax = plt.subplots(figsize=(min(2 + 0.35 * T, 9), min(1.5 + 0.06 * H, 6)))
    im = ax.imshow(one_minus_z, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.axvline(n_encoder - 0.5, color="w", lw=1.5)
    ax.set_xticks(range(T), step_labels, fontsize=8)
    ax.set(xlabel="encoder steps | decoder steps", ylabel="channel", title=title)
    fig.colorbar(im, ax=ax, label="1 − z")
    return figure_png(fig)


def pair_difference(diff: np.ndarray, step_labels: list, n_encoder: int, title: str) -> bytes:
    """diff [H, T]: |h'(t) − h(t)| of two inputs that differ in one token, over encoder then decoder steps (log10)."""
    plt = pyplot()
    H, T = diff.shape
    fig, ax = plt.subplots(figsize=(min(2 + 0.35 * T, 9), min(1.5 + 0.06 * H, 6)))
    im = ax.imshow(np.log10(np.maximum(diff, 1e-8)), aspect="auto", cmap="magma", vmin=-6, interpolation="nearest")
    ax.axvline(n_encoder - 0.5, color="w", lw=1.5)
    ax.set_xticks(range(T), step_labels, fontsize=8)
    ax.set(xlabel="encoder steps | decoder steps", ylabel="channel", title=title)
    fig.colorbar(im, ax=ax, label="log10 |h' − h|")
    return figure_png(fig)


def state_differences(d: np.ndarray, title: str) -> bytes:
    """d [L, N, H]: left, ‖d_i‖₂ per changed position i (median and 10–90% band over N pairs, log axis);
    right, log10 of the mean |d_i| per channel (channels ordered by their magnitude at the last position)."""
    plt = pyplot()
    L = d.shape[0]
    norms = np.linalg.norm(d, axis=-1)                          # [L, N]
    lo, med, hi = np.percentile(norms, [10, 50, 90], axis=1)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.3))
    pos = np.arange(1, L + 1)
    ax[0].fill_between(pos, np.maximum(lo, 1e-12), np.maximum(hi, 1e-12), alpha=0.3)
    ax[0].semilogy(pos, np.maximum(med, 1e-12), marker="o")
    ax[0].set(xlabel="position i of the changed token", ylabel="‖h(x') − h(x)‖₂", title=title)
    ax[0].grid(alpha=0.3, which="both")
    mean_abs = np.abs(d).mean(axis=1)                           # [L, H]
    order = np.argsort(-mean_abs[-1])
    im = ax[1].imshow(np.log10(np.maximum(mean_abs[:, order].T, 1e-12)), aspect="auto", cmap="magma",
                      interpolation="nearest", extent=(0.5, L + 0.5, d.shape[2] - 0.5, -0.5))
    ax[1].set(xlabel="position i of the changed token", ylabel="channel (sorted)", title="log10 mean |Δh|")
    fig.colorbar(im, ax=ax[1])
    return figure_png(fig)


def onion_scale(scales: dict, title: str, max_lines: int = 16) -> bytes:
    """scales: {label: s [P, H]} (s[p] = g ⊙ γ^p + p·ℓ + b). One panel per label against p, log axis: the median
    of |s| over channels, its 10–90% band, and up to max_lines channels (thin; evenly spread over the channels)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(scales), figsize=(4.6 * len(scales), 3.2), squeeze=False)
    for ax, (label, s) in zip(axes[0], scales.items()):
        a = np.maximum(np.abs(s), 1e-12)
        p = np.arange(a.shape[0])
        pick = np.unique(np.linspace(0, a.shape[1] - 1, min(max_lines, a.shape[1])).astype(int))
        ax.semilogy(p, a[:, pick], color="0.6", lw=0.5)
        ax.fill_between(p, *np.percentile(a, [10, 90], axis=1), color="C3", alpha=0.15, label="10–90% of channels")
        ax.semilogy(p, np.median(a, axis=1), color="C3", lw=2, marker="o", label="median over channels")
        ax.set(xlabel="position p (0-based)", ylabel="|scale(p)| per channel", title=f"{title}: {label}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return figure_png(fig)


def per_length(curves: dict, model: dict | None, ylabel: str, title: str) -> bytes:
    """curves: {label: {L: score}}; model: the GRU's own accuracy per length (dashed), or None."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.3))
    for i, (label, per) in enumerate(curves.items()):
        ax.plot([int(k) for k in per], list(per.values()), marker="o", ms=4, color=f"C{i}", label=label)
    if model:
        ax.plot([int(k) for k in model], list(model.values()), "k--", lw=1, label="the GRU itself (valid)")
    ax.set(xlabel="sequence length", ylabel=ylabel, ylim=(-0.03, 1.03), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure_png(fig)


def per_position(res: dict) -> bytes:
    """positions.diagnose's numbers: IIA per moved position, rotated channels per position, token accuracies."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    uni, probe = res.get("unigram"), res.get("probe_linear")
    if uni:
        axes[0].bar(range(len(uni["iia"])), uni["iia"], color="C0")
        axes[0].axhline(uni["iia_trained"], color="k", lw=1, ls="--", label=f"trained IIA {uni['iia_trained']:.3f}")
        axes[0].legend(fontsize=7)
        ch = uni["channels"]
        axes[1].bar(range(len(ch)), ch, color=["C1"] * (len(ch) - 1) + ["0.6"])
        axes[1].set_xticks(range(len(ch)), [str(t) for t in range(len(ch) - 1)] + ["keep"])
    axes[0].set(xlabel="moved position t", ylabel="IIA", ylim=(0, 1.02), title="unigram intervention, one position")
    axes[1].set(xlabel="variable (position)", ylabel="rotated channels", title=f"assignment (H = {res['hidden']})")
    axes[2].plot(range(len(res["model_token_accuracy"])), res["model_token_accuracy"], "o-", color="k", ms=3,
                 label="model (L 9)")
    if probe:
        axes[2].plot(range(len(probe["token_accuracy"])), probe["token_accuracy"], "o-", color="C2", ms=3,
                     label="linear probe (L 2-9)")
    axes[2].set(xlabel="position t", ylabel="token accuracy", ylim=(0, 1.02), title="per-position decoding")
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    return figure_png(fig)

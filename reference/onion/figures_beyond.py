"""Figures of the questions beyond the paper (docs/beyond-onion.md), each returned as PNG bytes (plots.figure_png).

    transition           the three hypotheses' IIA and the gates' synchrony against hidden size (transition.py)
    precision            exact match per length in each number type, and each position's footprint against the
                         types' unit roundoff (precision.py)
    capacity             exact match (float64, bfloat16) and onion IIA per length, one colour per (H, max_len),
                         with the measured and the predicted capacity (capacity.py)
    form_gap             onion and onion-free IIA per length beside the model's exact match (form.py)
"""
from __future__ import annotations

import numpy as np

from ..plots import figure_png, pyplot


def transition(res: dict) -> bytes:
    """transition.py's rows: IIA of the three hypotheses (top) and the std of the channels' freeze steps (bottom)
    against hidden size, mean ± std over seeds."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(6, 5.6), sharex=True)
    rows = res["rows"]
    for i, (q, label) in enumerate((("linear", "linear unigram"), ("bigram", "linear bigram"), ("onion", "onion"))):
        pts = [(r["hidden"], r[q]) for r in rows if q in r]
        if pts:
            a.errorbar([h for h, _ in pts], [e["mean"] for _, e in pts], yerr=[e["std"] for _, e in pts],
                       color=f"C{i}", marker="o", ms=4, capsize=3, label=label)
            for h, e in pts:
                if e.get("still_rising"):
                    a.annotate(f"↑{e['still_rising']}", (h, e["mean"]), xytext=(3, 3), textcoords="offset points",
                               fontsize=6, color=f"C{i}")
    a.set(ylabel="IIA (↑k: still rising in k seeds)", ylim=(-0.03, 1.03),
          title="where the onion ends (autoregressive GRUs)")
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    pts = [(r["hidden"], r["spread"]) for r in rows if "spread" in r]
    b.errorbar([h for h, _ in pts], [e["mean"] for _, e in pts], yerr=[e["std"] for _, e in pts], color="k",
               marker="s", ms=4, capsize=3)
    b.set(xlabel="hidden size N", ylabel=f"std of channel freeze steps\n(keep {res['keep']})")
    b.grid(alpha=0.3)
    hidden = [r["hidden"] for r in rows]
    b.set_xscale("log", base=2)
    b.set_xticks(hidden, [str(h) for h in hidden])
    b.minorticks_off()
    return figure_png(fig)


def precision(res: dict, title: str) -> bytes:
    """precision.py's report: exact match per length, one line per type (left); footprint per position on a log
    axis with each type's unit roundoff u as a dashed line (right)."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    for i, (kind, r) in enumerate(res["types"].items()):
        Ls = sorted(int(L) for L in r["per_length"])
        a.plot(Ls, [r["per_length"][L] if L in r["per_length"] else r["per_length"][str(L)] for L in Ls],
               marker="o", ms=3, color=f"C{i}", label=kind)
    a.set(xlabel="sequence length", ylabel="exact match", ylim=(-0.03, 1.03), title=title)
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    fp = np.asarray(res["footprint"])
    b.semilogy(np.arange(1, len(fp) + 1), fp, marker="o", ms=3, color="k", label="footprint")
    for i, (kind, u) in enumerate(res["unit_roundoff"].items()):
        if u >= fp.min() / 1e3:
            b.axhline(u, color=f"C{i}", linestyle="--", linewidth=1, label=f"u {kind}")
    b.set(xlabel="position i", ylabel="‖Δh‖∞ / ‖h‖∞ (median)", title="each position's trace in the final state")
    b.grid(alpha=0.3, which="both")
    b.legend(fontsize=7)
    return figure_png(fig)


def capacity(res: dict) -> bytes:
    """capacity.py's groups: exact match per length, float64 solid and bfloat16 dashed, mean ± std over seeds, one
    colour per (H, max_len), a star at the measured capacity and a dotted vertical line at bfloat16's predicted one
    (capped at max_len) (left); the onion intervention's IIA per length where there is one (right)."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    any_onion = False
    for i, g in enumerate(res["groups"]):
        c, pl = f"C{i % 10}", g["per_length"]
        Ls = sorted(int(L) for L in pl)
        label = f"H {g['hidden']}, L ≤ {g['max_len']} (n {len(g['runs'])})"
        for kind, style in (("float64", "-"), ("bfloat16", "--")):
            a.errorbar(Ls, [pl[str(L)][kind]["mean"] for L in Ls], yerr=[pl[str(L)][kind]["std"] for L in Ls],
                       color=c, linestyle=style, marker="o" if kind == "float64" else None, ms=3, capsize=2,
                       label=label if kind == "float64" else None)
        m = g["measured"]["float64"]
        if str(m) in pl:
            a.plot([m], [pl[str(m)]["float64"]["mean"]], marker="*", ms=12, color=c, markeredgecolor="k",
                   linestyle="none")
        a.axvline(min(g["predicted"]["bfloat16"], g["max_len"]) + 0.05 * i, color=c, linestyle=":", linewidth=1.2)
        on = [L for L in Ls if "onion" in pl[str(L)]]
        if on:
            any_onion = True
            n_onion = max(pl[str(L)]["onion"]["n"] for L in on)       # the seeds with a finished intervention
            b.errorbar(on, [pl[str(L)]["onion"]["mean"] for L in on], yerr=[pl[str(L)]["onion"]["std"] for L in on],
                       color=c, marker="o", ms=3, capsize=2,
                       label=f"H {g['hidden']}, L ≤ {g['max_len']} (n {n_onion})")
    a.axhline(res["threshold"], color="grey", linewidth=0.8)
    a.plot([], [], "k-", label="float64")
    a.plot([], [], "k--", label="bfloat16")
    a.plot([], [], "k*", ms=9, linestyle="none", label=f"measured: longest L ≥ {res['threshold']:g}")
    a.plot([], [], "k:", label="predicted, bfloat16")
    a.set(xlabel="sequence length L", ylabel="exact match", ylim=(-0.03, 1.03), title="exact match per length")
    a.grid(alpha=0.3)
    a.legend(fontsize=6, loc="best")
    a.xaxis.get_major_locator().set_params(integer=True)
    b.set(xlabel="sequence length L", ylabel="onion IIA", ylim=(-0.03, 1.03), title="onion intervention per length")
    b.grid(alpha=0.3)
    if any_onion:
        b.legend(fontsize=6, loc="lower left")
    else:
        b.text(0.5, 0.5, "no finished onion intervention", ha="center", va="center", transform=b.transAxes)
    return figure_png(fig)


def form_gap(res: dict) -> bytes:
    """form.py's groups, one panel per hidden size: the model's exact match (dashed), the onion's and the onion-free
    IIA per length, mean ± std over seeds."""
    plt = pyplot()
    groups = res["groups"]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups) + 0.6, 3.4), sharey=True, squeeze=False)
    for ax, g in zip(axes[0], groups):
        Ls = sorted(g["per_length"], key=int)
        x = [int(L) for L in Ls]
        for q, style, label in (("model", "k--", "the model itself"), ("onion", "C0-", "onion"),
                                ("free", "C1-", "onion-free")):
            pl = [g["per_length"][L][q] for L in Ls]
            ax.errorbar(x, [s["mean"] for s in pl], yerr=[s["std"] for s in pl], fmt=style,
                        marker=None if q == "model" else "o", ms=3, capsize=2, lw=1 if q == "model" else 1.5,
                        label=label)
        ax.set(xlabel="sequence length", title=f"H {g['hidden']} (n {len(g['runs'])}, {g['steps']:,} steps)",
               ylim=(-0.03, 1.03))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("exact match / IIA (valid)")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    return figure_png(fig)

"""Where the onion ends (issue 21 part 1): the three hypotheses' IIA and the gates' synchrony against hidden size.

From one or more sweep directories (report_table.read_sweeps), autoregressive cells only, per hidden size over its seeds
(mean ± std, n):
    linear, bigram, onion           the interventions' IIA (unigram subspaces, bigram subspaces, onion)
    probe-linear, probe-mlp, probe-onion   the probes' accuracy
    spread, modal_fraction          gate_timing.synchrony of the cell's encoder on 1 000 random length-L sequences:
                                    std of the channels' freeze steps, share of channels freezing at the modal step
    (each of these six also carries still_rising: how many of its seeds' curves were still rising at their budget,
     convergence.still_rising, the report's ↑)
    scale_ratio                     the learned onion's per-position scale ratio: s_p = median over channels of
                                    |scale_j(p)| (scale = g ⊙ γ^p + p·ℓ + b of RUN/intervene/onion), and
                                    ratio = (s_{L−1} / s_0)^{1/(L−1)}, the geometric mean of s_{p+1} / s_p
Does synchrony predict the switch? `predicts` correlates each cell's freeze-step std with its IIA and probe scores:
    across      Spearman's ρ over all cells (size included: both grow with N, so this alone says little)
    within      Pearson's r of the same after subtracting each size's mean (sizes with at least two cells): does
                the seed whose gates spread more also store more linearly, at one size?
Each cell's synchrony is kept in RUN/gates.json (recomputed when missing or made with another keep / length).
The CLI (`onionref transition`) writes OUT/transition.json and OUT/transition.png (figures_beyond.transition).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError
from .gate_timing import KEEP, gate_synchrony
from .report_table import read_sweeps, stats
from .train import load_run

HYPOTHESES = ("linear", "bigram", "onion")
PROBES = ("probe-linear", "probe-mlp", "probe-onion")
N_SEQUENCES = 1000


def cell_synchrony(run_dir: Path, cfg, params: dict, keep: float = KEEP) -> dict:
    """gate_timing.gate_synchrony of a trained run (its TrainConfig and parameters) at its max_len, cached in
    RUN/gates.json."""
    path = Path(run_dir) / "gates.json"
    if path.is_file():
        got = runs.read_json(path)
        if got.get("keep") == keep and got.get("length") == cfg.max_len and got.get("sequences") == N_SEQUENCES:
            return got
    res = gate_synchrony(params, cfg.symbols, cfg.max_len, n=N_SEQUENCES, keep=keep)
    runs.write_json(path, res)
    return res


def transition(sweep_dirs: list, keep: float = KEEP) -> dict:
    """{"keep", "rows": [{"hidden", "seeds", q: stats for q in HYPOTHESES + PROBES (with still_rising: the count of
    seeds) + spread, modal_fraction, scale_ratio}]} over the autoregressive cells of the sweeps (rows sorted by hidden size)."""
    data = read_sweeps([Path(d) for d in sweep_dirs])
    by_h: dict[int, list] = {}
    for name, cell in sorted(data["cells"].items()):
        if cell["variant"] != "ar":
            continue
        run = Path(cell["dir"]) / name
        cfg, params = load_run(run)
        sync = cell_synchrony(run, cfg, params, keep)
        scales = cell.get("onion", {}).get("scales")
        by_h.setdefault(cell["hidden"], []).append({"cell": name,
            **{q: cell[q][("iia" if q in HYPOTHESES else "accuracy")] for q in HYPOTHESES + PROBES if q in cell},
            "rising": {q: bool(cell[q].get("still_rising")) for q in HYPOTHESES + PROBES if q in cell},
            "spread": sync["std"], "modal_fraction": sync["modal_fraction"],
            "scale_ratio": None if scales is None else scales["ratio"], "accuracy": cell["train"]["accuracy"]})
    if not by_h:
        raise UserError("no finished autoregressive cell in " + ", ".join(map(str, sweep_dirs)))
    rows = []
    for H in sorted(by_h):
        row = {"hidden": H, "seeds": len(by_h[H])}
        for q in ("accuracy",) + HYPOTHESES + PROBES + ("spread", "modal_fraction", "scale_ratio"):
            vals = [c[q] for c in by_h[H] if c.get(q) is not None]
            if vals:
                row[q] = stats(vals)
            if q in HYPOTHESES + PROBES and vals:
                row[q]["still_rising"] = sum(c["rising"].get(q, False) for c in by_h[H])
        rows.append(row)
    cells = [{"hidden": H, **{k: v for k, v in c.items() if k != "rising"}} for H in sorted(by_h) for c in by_h[H]]
    return {"keep": keep, "sequences": N_SEQUENCES, "rows": rows, "cells": cells, "predicts": predicts(cells)}


def predicts(cells: list) -> dict:
    """{q: {"across": ρ, "within": r, "n": cells, "n_within": cells in sizes with ≥ 2} for q in HYPOTHESES + PROBES}:
    the freeze-step std ("spread") of each cell against its score q (module docstring); None where fewer than three
    cells, or no variation, leave a correlation undefined."""
    from scipy.stats import spearmanr  # scipy.stats takes ~0.5 s to import: only when asked
    out = {}
    for q in HYPOTHESES + PROBES:
        have = [c for c in cells if c.get(q) is not None and c.get("spread") is not None]
        x = np.array([c["spread"] for c in have], dtype=np.float64)
        y = np.array([c[q] for c in have], dtype=np.float64)
        across = float(spearmanr(x, y).statistic) if len(have) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0 else None
        sizes = np.array([c["hidden"] for c in have])
        keep = np.array([np.sum(sizes == h) >= 2 for h in sizes], dtype=bool)
        dx, dy = x.copy(), y.copy()
        for h in set(sizes[keep].tolist()):
            at = sizes == h
            dx[at] -= x[at].mean()
            dy[at] -= y[at].mean()
        dx, dy = dx[keep], dy[keep]
        ok = len(dx) >= 3 and np.any(dx != 0) and np.any(dy != 0)
        within = float(np.sum(dx * dy) / np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))) if ok else None
        out[q] = {"across": across, "within": within, "n": len(have), "n_within": int(keep.sum())}
    return out


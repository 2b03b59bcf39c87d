"""The paper's tables from one sweep directory or several (spec §5) as report.md, report.json and figures; the
numbers themselves (every cell's result.json, mean ± std over seeds) come from report_table.py.

A sweep directory (sweep/sweepdir.py) holds one run directory per cell, DIR/h{H}-{variant}[-{cell}]-s{seed}/, with its
analyses under RUN/intervene/{linear,bigram,onion,onion-noscale,onion-free,onion-from-end}/ and RUN/probe/{linear,mlp,onion,gru-ar,
gru-noinput}/. Only finished pieces (a DONE marker) are read. For every row (hidden size × decoder variant) and
quantity we report mean ± std over the seeds (std with ddof = 1; 0 for one seed), the number of seeds n, and the
model's own exact-match accuracy on the same split (mean over the same seeds). The paper's published values
(spec §7) sit beside ours, marked as the paper's (repeat sweeps only). A report covers one task (sweep.json's
budget.task: repeat, reverse or lookup; repeat when the sweep predates --task); the task heads report.md.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError
from .convergence import RISE, WINDOW
from .report_table import VARIANTS, carried_rows, read_sweeps, row_order, table
from .sweep import ANALYSES, cell_name

# name in the sweep grid (sweep.ANALYSES) -> table label
LABELS = {"linear": "Linear Unigram", "bigram": "Linear Bigram", "onion": "Onion Unigram",
          "onion-noscale": "Onion, no position (ablation)", "onion-free": "Onion, free scale per position",
          "onion-from-end": "Onion, positions from the end",
          "probe-linear": "Linear", "probe-mlp": "MLP",
          "probe-onion": "Onion", "probe-gru-ar": "GRU-AR", "probe-gru-noinput": "GRU-no-input"}
INTERVENTIONS = tuple(a for a, (group, _) in ANALYSES.items() if group == "intervene")
PROBES = tuple(a for a, (group, _) in ANALYSES.items() if group == "probe")
TASK_TEXT = {"repeat": "output x_1 … x_L", "reverse": "output x_L … x_1",
             "lookup": "the decoder is given a position i and outputs x_i"}
COUNTERFACTUAL = {"reverse": "the intervened input position p is the output of decoder step L−1−p.",
                  "lookup": "each sequence is asked for the intervened position (onion, bigram: p; unigram: one of the "
                            "swapped positions), so the counterfactual token itself must be output, and for a control "
                            "position (another one), whose stored token must stay; IIA = both right, while *model* is "
                            "the GRU's accuracy on one query."}

# The paper's values that could be recovered (spec §7), presumably its autoregressive rows; (quantity, N) -> text.
PAPER = {("probe-linear", 48): "0.01", ("probe-linear", 64): "0.01",
         ("probe-mlp", 48): "0.02", ("probe-mlp", 64): "0.04",
         ("probe-onion", 48): "0.92", ("probe-onion", 64): "0.97",
         **{(q, n): "0.00–0.01" for q in ("linear", "bigram") for n in (48, 64)},
         **{("onion", n): "≈0.83–0.89" for n in (48, 64)}}


def kind_of(path: Path) -> str:
    """"sweep" (DIR/sweep.json) or "run" (RUN/config.json and RUN/weights.safetensors); UserError otherwise."""
    if not path.is_dir():
        raise UserError(f"no directory at {path}")
    if (path / "sweep.json").is_file():
        return "sweep"
    if (path / "config.json").is_file() and (path / "weights.safetensors").is_file():
        return "run"
    raise UserError(f"{path} is neither a sweep directory (sweep.json) nor a trained run directory "
                    f"(config.json and weights.safetensors)")


def fmt(s: dict | None) -> str:
    """mean ± std (n=N), then "↑k" if k of the seeds were still rising at their budget."""
    if s is None:
        return "–"
    txt = f"{s['mean']:.3f} ± {s['std']:.3f} (n={s['n']})" if s["n"] > 1 else f"{s['mean']:.3f} (n=1)"
    if s.get("still_rising"):
        txt += f" **↑{s['still_rising']}**"
    return txt


def _steps(e: dict) -> str:
    """" @20k" (or " @20k–60k" over seeds) for an analysis entry that records its steps, else ""."""
    steps = e.get("steps") or []
    k = [f"{s // 1000}k" if s % 1000 == 0 else str(s) for s in steps]
    return f" @{k[0]}" if len(k) == 1 else (f" @{k[0]}–{k[-1]}" if k else "")


def _by_cell(rows: list) -> bool:
    """Whether the rows hold a cell other than the GRU (a sweep --cells report: a cell column, its own sections)."""
    return any(r.get("cell", "gru") != "gru" for r in rows)


def _md_table(rows: list, quantities: tuple, with_model: bool, show_steps: bool = False, paper: bool = True) -> list:
    by_cell = _by_cell(rows)
    head = ["N", "decoder"] + ["cell"] * by_cell + [LABELS.get(q, q) for q in quantities]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = []
        for q in quantities:
            e = r.get(q)
            txt = fmt(e) + (_steps(e) if e is not None and show_steps else "")
            if e is not None and with_model:
                txt += f"; model {e['model_accuracy']:.3f}"
            cells.append(txt)
        mark = " †" if r.get("carried_from") else ""
        kind = [r.get("cell", "gru")] * by_cell
        lines.append(f"| {r['hidden']} | {VARIANTS[r['variant']]}{mark} | " + " | ".join(kind + cells) + " |")
        known = [PAPER.get((q, r["hidden"])) for q in quantities] if paper else []
        if r["variant"] == "ar" and r.get("cell", "gru") == "gru" and any(known):
            lines.append(f"| {r['hidden']} | *paper* | " + " | ".join(["GRU"] * by_cell + [f"*{p}*" if p else ""
                                                                            for p in known]) + " |")
    return lines


def _scales_table(rows: list) -> list:
    """A sweep --cells report's section: each cell's learned onion scale per position (mean over seeds) and ratio."""
    rows = [r for r in rows if "scales" in r.get("onion", {})]
    if not _by_cell(rows):
        return []
    L = max(len(r["onion"]["scales"]) for r in rows)
    out = ["", "## The learned onion's scale per position (sweep --cells)", "",
           "s_p = median over the state's channels of |g ⊙ γ^p + p·ℓ + b| of the trained onion intervention (mean "
           "over seeds); ratio = (s_{L−1} / s_0)^{1/(L−1)}, mean ± std over seeds. An onion stores position p at "
           "a scale s_p that changes steadily with p; read it beside the onion IIA.", "",
           "| N | decoder | cell | onion IIA | " + " | ".join(f"s_{p}" for p in range(L)) + " | ratio |",
           "|" + "---|" * (L + 5)]
    for r in rows:
        s = [f"{e['mean']:.3g}" for e in r["onion"]["scales"]] + [""] * (L - len(r["onion"]["scales"]))
        out.append(f"| {r['hidden']} | {VARIANTS[r['variant']]} | {r.get('cell', 'gru')} | "
                   f"{r['onion']['mean']:.3f} | " + " | ".join(s) + f" | {fmt(r['onion'].get('scale_ratio'))} |")
    return out


def markdown(sweep_dirs: list, data: dict, rows: list, figures: list) -> str:
    """report.md: the budget, the three tables of the paper (plus the ablation), and links to the figures."""
    cells, task = data["cells"], data.get("task", "repeat")
    by_cell = _by_cell(rows)
    out = [f"# Onion paper: report of {', '.join(f'`{Path(d).name}`' for d in sweep_dirs)}", "",
           f"Task: **{task}** ({TASK_TEXT[task]}).  "]
    n_grid = 0
    for d, rec in data["sweeps"].items():
        grid = rec.get("grid", {})
        axes = [grid.get(k, ["gru"] if k == "cell" else []) for k in ("hidden", "variant", "seed", "cell")]
        n_grid += int(np.prod([len(a) for a in axes])) if grid else 0
        head = f"`{Path(d).name}`: " if len(data["sweeps"]) > 1 else ""
        out += [f"{head}Grid: {runs.to_json(grid)}  ", f"{head}Budget: {runs.to_json(rec.get('budget', {}))}  "]
    carried = sorted({r["carried_from"] for r in rows if r.get("carried_from")})
    if carried:
        out += [f"Rows marked † are carried over unchanged from {', '.join(f'`{c}`' for c in carried)} (a report of "
                "cells that are not in these directories; their run figures are not redrawn).  "]
    out += [f"Finished cells: {len(cells)} ({n_grid} in the grid; a directory may also hold cells it adopted). "
            "Cells show mean ± std over seeds (std with ddof 1) and n; "
           "*model* is the model's own exact-match accuracy on the analysis's split (mean over the same seeds); rows "
           "marked *paper* are the paper's published values (spec §7; presumably its autoregressive rows; "
           "only those that could be recovered). **↑k**: still rising in k of the n seeds (the score rose by more "
           f"than {RISE} over the last {WINDOW:.0%} of the analysis's steps; its value is a lower bound).", "",
           f"## {'Model' if by_cell else 'GRU'} accuracy ({'the queried token' if task == 'lookup' else 'exact match'}, "
           "valid, L 2–9)", ""]
    paper = task == "repeat"
    out += _md_table(rows, ("accuracy",), with_model=False, paper=paper)
    out += ["", "## Interchange intervention accuracy (IIA)", "",
            "Linear Unigram / Bigram on L = 9 only, Onion on L 2–9 (spec §6.6).", ""]
    steps = {tuple(r[q].get("steps") or ()) for r in rows for q in INTERVENTIONS + PROBES if q in r}
    show = len(steps) > 1        # analyses of different budgets side by side: each cell says its steps
    if task != "repeat":
        out += [f"Counterfactual targets follow the task: {COUNTERFACTUAL[task]}", ""]
    # onion-free and onion-from-end are not the paper's analyses: their columns only when some row has them
    shown = tuple(q for q in INTERVENTIONS if q not in ("onion-free", "onion-from-end") or any(q in r for r in rows))
    out += _md_table(rows, shown, with_model=True, show_steps=show, paper=paper)
    out += ["", "## Probe accuracy (decode the whole sequence from the final state, L 2–9)", ""]
    if task != "repeat":
        out += ["The probes read the stored input sequence x_1..x_L from the final encoder state whatever the task.", ""]
    out += _md_table(rows, PROBES, with_model=True, show_steps=show, paper=paper)
    out += _scales_table(rows)
    if figures:
        out += ["", "## Figures"]
        for group in dict.fromkeys(str(Path(f).parent) for f in figures):
            title = "the sweep" if group == "figures" else f"one run: `{Path(group).name}`"
            out += ["", f"### {title}", ""] + [f"![{Path(f).stem}]({f})" for f in figures
                                               if str(Path(f).parent) == group]
    return "\n".join(out) + "\n"


def write_sweep_report(sweep_dirs, sequence: str | None = None, progress: bool = False,
                       out: Path | None = None, rows_from: Path | None = None) -> dict:
    """OUT/report.md, OUT/report.json and OUT/figures/*.png of one sweep directory or several (OUT = the one DIR
    unless given; the sweeps themselves are only read); for each GRU (hidden, variant) the lowest seed's run figures
    go to OUT/figures/<cell>/, and a sweep of several cells (--cells) adds figures/by_cell.png. `rows_from` (an earlier report.json) adds its rows for sizes these sweeps lack, marked †.
    Everything is computed before anything is written."""
    from tqdm import tqdm

    from . import figures
    from .run_figures import run_figures, write_figures

    sweep_dirs = [Path(sweep_dirs)] if isinstance(sweep_dirs, (str, Path)) else [Path(d) for d in sweep_dirs]
    if out is None and len(sweep_dirs) > 1:
        raise UserError("several sweep directories need --out (where their joint report goes)")
    out = sweep_dirs[0] if out is None else Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is not a directory")
    data = read_sweeps(sweep_dirs)
    rows = table(data["cells"])
    if rows_from is not None:
        rows = sorted(rows + carried_rows(rows_from, rows), key=row_order)
    figs = {}
    iv = {q: LABELS[q] for q in INTERVENTIONS if any(q in r for r in rows)}
    pr = {q: LABELS[q] for q in PROBES if any(q in r for r in rows)}
    gru = [r for r in rows if r.get("cell", "gru") == "gru"]     # the paper's figures: the GRU against N
    if iv and gru:
        figs["iia_vs_hidden.png"] = figures.metric_vs_hidden(gru, iv, "IIA", "interchange interventions")
    if pr and gru:
        figs["probe_vs_hidden.png"] = figures.metric_vs_hidden(gru, pr, "probe accuracy", "probes")
    if any("onion" in r for r in gru):
        figs["onion_iia_per_length.png"] = figures.per_length_by_hidden(gru, "onion", "IIA", "onion IIA")
    if len(gru) < len(rows):                                      # sweep --cells: every cell side by side
        figs["by_cell.png"] = figures.metric_by_cell(rows, {"accuracy": "model accuracy", **iv, **{
            q: f"{label} probe" for q, label in pr.items()}})
        if any("scales" in r.get("onion", {}) for r in rows):
            figs["onion_scales_by_cell.png"] = figures.onion_scales_by_cell(rows)
    per_cell = {}
    for r in tqdm([r for r in gru if not r.get("carried_from")], desc="report: run figures", disable=not progress,
                  dynamic_ncols=True):
        name = cell_name(r["hidden"], r["variant"], r["seeds"][0])
        per_cell[name] = run_figures(Path(data["cells"][name]["dir"]) / name, sequence)
    listed = [f"figures/{n}" for n in figs] + [f"figures/{c}/{n}" for c, (f, _) in per_cell.items() for n in f]
    md = markdown(sweep_dirs, data, rows, listed)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, png in figs.items():
        runs.atomic_write_bytes(fig_dir / name, png)
    for cell, (f, numbers) in per_cell.items():
        write_figures(fig_dir / cell, f, numbers)
    result = {"report": str(out / "report.md"), "task": data["task"], "sweep": str(sweep_dirs[0]) if len(sweep_dirs) == 1 else
              [str(d) for d in sweep_dirs], "cells": len(data["cells"]), "rows": rows,
              "figures": [str(out / f) for f in listed]}
    runs.write_json(out / "report.json", result)
    runs.atomic_write_bytes(out / "report.md", md.encode())
    return result

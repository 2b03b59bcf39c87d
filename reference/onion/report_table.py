"""The numbers of a report: the finished cells of one or more sweep directories, as rows of mean ± std over seeds.

    read_sweep(DIR) / read_sweeps(DIRS) -> {"sweep(s)", "cells": {name: {"hidden", "variant", "cell", "seed",
                                             "train": result, <analysis>: result + still_rising}}}
    table(cells) -> rows, one per (hidden, variant, cell): accuracy and every analysis as stats (mean, std with
                    ddof 1, n), the model's own accuracy on the analysis's split, per-length stats, steps; the onion's
                    learned scale per position and its ratio (onion_scales)
    carried_rows(report.json, rows) -> the rows of an earlier report for the sizes these sweeps lack

report.py writes them as markdown and figures; transition.py and run_figures.py read the same rows.
"""
from __future__ import annotations

import re

from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError
from ..sweep.sweepdir import SWEEP_FORMAT
from .convergence import still_rising
from .interventions.onion import scale_table
from .sweep import ANALYSES, ANY_CELL_NAME, metric_of, task_of

VARIANTS = {"ar": "Autoregressive", "noinput": "No input"}
CELL_ORDER = ("gru", "lstm", "elman", "elman-relu", "linear")   # then alrnn-p<P> by P (sweep --cells' names)


def read_sweep(sweep_dir: Path) -> dict:
    """{"sweep": sweep.json, "cells": {name: {"hidden", "variant", "cell", "seed", "train": result, <analysis>:
    result}}} for every finished cell of any recurrent cell (`cell`: gru, lstm, …, alrnn-p4; sweep --cells); raises UserError if DIR is not an onion sweep or nothing in it has finished."""
    sweep_dir = Path(sweep_dir)
    rec = runs.read_json(sweep_dir / "sweep.json")
    if rec.get("format") != SWEEP_FORMAT or rec.get("kind") != "onion":
        raise UserError(f"{sweep_dir / 'sweep.json'} is not an onion sweep (format {rec.get('format')!r}, "
                        f"kind {rec.get('kind')!r})")
    cells = {}
    for d in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and ANY_CELL_NAME.match(p.name)):
        train = runs.finished_result(d)
        if train is None:
            continue
        H, variant, kind, seed = ANY_CELL_NAME.match(d.name).groups()
        cell = {"hidden": int(H), "variant": variant, "cell": kind or "gru", "seed": int(seed), "train": train}
        for name, (group, method) in ANALYSES.items():
            res = runs.finished_result(d / group / method)
            if res is not None:
                metric = metric_of(name)
                rows = runs.read_metrics(d / group / method / "metrics.jsonl", metric)
                cell[name] = {**res, "still_rising": still_rising(rows, metric)}
        if "onion" in cell:
            cell["onion"]["scales"] = onion_scales(d, runs.read_config(d)["max_len"])
        cells[d.name] = cell
    if not cells:
        raise UserError(f"{sweep_dir} holds no finished cell yet (no h<H>-<variant>-s<seed>/DONE); nothing to report")
    return {"sweep": rec, "cells": cells}


def onion_scales(run_dir: Path, max_len: int) -> dict | None:
    """The learned onion of RUN/intervene/onion (None if unfinished): {"s": [s_0 .. s_{L−1}], "ratio"} with s_p the
    median over the state's channels of |g ⊙ γ^p + p·ℓ + b| and ratio = (s_{L−1} / s_0)^{1/(L−1)}, the geometric mean
    of s_{p+1} / s_p (None when s_0 = 0)."""
    d = Path(run_dir) / "intervene" / "onion"
    if runs.finished_result(d) is None:
        return None
    params, _ = runs.load_arrays(d / "params.safetensors")
    table = scale_table({k: np.asarray(v, np.float64) for k, v in params.items()}, max_len)
    s = np.median(np.abs(table), axis=1)
    ratio = float((s[-1] / s[0]) ** (1.0 / (len(s) - 1))) if s[0] > 0 else None
    return {"s": s.tolist(), "ratio": ratio}


def read_sweeps(sweep_dirs: list) -> dict:
    """read_sweep of every directory, merged: {"sweeps": {dir: sweep.json}, "cells": {name: cell + {"dir"}}}. A cell
    name found in two directories is refused (one cell, one place)."""
    sweeps, cells, tasks = {}, {}, {}
    for d in sweep_dirs:
        data = read_sweep(d)
        sweeps[str(d)] = data["sweep"]
        tasks[str(d)] = task_of(data["sweep"])
        for name, cell in data["cells"].items():
            if name in cells:
                raise UserError(f"cell {name} is in both {cells[name]['dir']} and {d}; report each sweep alone")
            cells[name] = {**cell, "dir": str(d)}
    if len(set(tasks.values())) > 1:
        raise UserError("these sweeps are of different tasks (" + ", ".join(f"{Path(d).name}: {t}" for d, t in
                                                                    tasks.items()) + "); report one task at a time")
    return {"sweeps": sweeps, "cells": cells, "task": next(iter(tasks.values()))}


def carried_rows(path: Path, have: list) -> list:
    """The rows of an earlier report.json for (hidden, variant) pairs that `have` (this report's rows) lacks, each
    marked {"carried_from": path}: a report can keep sizes whose cells are no longer on this machine. A row without
    "cell" (a report from before sweep --cells) is a GRU row."""
    path = Path(path)
    try:
        rows = runs.read_json(path)["rows"]
        keys = {row_key(r) for r in have}
        out = []
        for r in rows:
            r = {"cell": "gru", **r}
            if row_key(r) in keys:
                continue
            if not isinstance(r["hidden"], int) or r["variant"] not in VARIANTS or "accuracy" not in r:
                raise KeyError("hidden")
            r = {**r, "carried_from": str(path)}
            for q in ANALYSES:
                if q in r:
                    r[q] = {**r[q], "per_length": {int(L): v for L, v in r[q].get("per_length", {}).items()}}
            out.append(r)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{path} is not an onionref report.json with rows (bad {e})") from None
    return out


def _number(x, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x):
        raise UserError(f"{where}: expected a number, got {x!r:.40}")
    return float(x)


def stats(values: list) -> dict:
    """{"mean", "std" (ddof 1; 0 for one value), "n"} of a list of numbers."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}


def mean_std(s: dict | None) -> str:
    """"mean ± std" of a `stats` dict to 3 decimals, "–" for None (the terminal tables' short form)."""
    return "–" if s is None else f"{s['mean']:.3f} ± {s['std']:.3f}"


def cell_rank(cell: str) -> tuple:
    """Sort key of a cell name: CELL_ORDER, then the AL-RNNs by their number of ReLU units (alrnn-p<P>, each before
    its alrnn-p<P>-uniform)."""
    if cell in CELL_ORDER:
        return CELL_ORDER.index(cell), 0, 0
    P, uniform = re.match(r"^alrnn-p(\d+)(-uniform)?$", cell).groups()
    return len(CELL_ORDER), int(P), uniform is not None


def row_key(r: dict) -> tuple:
    """(hidden, variant, cell) of a row or cell; its sort order: size, the autoregressive decoder first, cell."""
    return r["hidden"], r["variant"], r.get("cell", "gru")


def row_order(r: dict) -> tuple:
    return r["hidden"], r["variant"] != "ar", cell_rank(r.get("cell", "gru"))


def table(cells: dict) -> list:
    """One row per (hidden, variant, cell), sorted: {"hidden", "variant", "cell", "seeds", "accuracy": stats, <quantity>:
    {**stats, "model_accuracy": mean of the model's own accuracy on the analysis's split, "per_length": {L:
    stats}}}. Quantities missing from every seed are left out."""
    groups = {}
    for name, c in cells.items():
        groups.setdefault(row_key(c), []).append((name, c))
    rows = []
    for (H, variant, kind), members in groups.items():
        row = {"hidden": H, "variant": variant, "cell": kind, "seeds": sorted(c["seed"] for _, c in members),
               "accuracy": stats([_number(c["train"].get("accuracy"), f"{n}/result.json accuracy")
                                  for n, c in members])}
        for q, (group, method) in ANALYSES.items():
            got = [(n, c[q]) for n, c in members if q in c]
            if not got:
                continue
            key = "iia" if group == "intervene" else "accuracy"
            where = [f"{n}/{group}/{method}/result.json" for n, _ in got]
            entry = stats([_number(r.get(key), w) for (_, r), w in zip(got, where)])
            own = [_number(r.get("model_accuracy"), w) for (_, r), w in zip(got, where)]
            entry["model_accuracy"] = stats(own)["mean"]
            entry["per_length"] = per_length_stats([r.get("per_length") for _, r in got], where)
            entry["still_rising"] = sum(bool(r.get("still_rising")) for _, r in got)
            entry["steps"] = sorted({r.get("steps") for _, r in got if isinstance(r.get("steps"), int)})
            scales = [r.get("scales") for _, r in got]
            if q == "onion" and all(scales):
                entry["scales"] = [stats(list(s)) for s in zip(*(c["s"] for c in scales))]
                ratios = [c["ratio"] for c in scales if c["ratio"] is not None]
                if ratios:
                    entry["scale_ratio"] = stats(ratios)
            row[q] = entry
        rows.append(row)
    return sorted(rows, key=row_order)


def per_length_stats(dicts: list, where: list) -> dict:
    """{L: stats} over the per_length objects {"L": score} of several result.json files (`where` names them)."""
    by_len = {}
    for d, w in zip(dicts, where):
        if not isinstance(d, dict):
            raise UserError(f"{w}: no per_length object")
        for L, v in d.items():
            if not str(L).isdigit():
                raise UserError(f"{w}: per_length key {L!r:.20} is not a length")
            by_len.setdefault(int(L), []).append(_number(v, w))
    return {L: stats(v) for L, v in sorted(by_len.items())}

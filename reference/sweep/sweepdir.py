"""The sweep directory: OUT/sweep.json records what a sweep is, so the same command can come back to it.

    OUT/sweep.json   {"format", "kind", "grid": {axis: [values]}, "budget": {...}, "versions": {...}}
    OUT/<cell>/      one ordinary run directory per cell (what the single-run commands write)

Reopening with the same budget merges a wider grid in (new values are appended to each axis; nothing is removed);
a different budget, another kind of sweep, or a directory that holds something else is refused with one line,
before anything on disk changes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .. import runs
from ..errors import UserError

SWEEP_FORMAT = "onionref-sweep/1"


def _merged(old: dict, new: dict) -> dict:
    out = {k: list(v) for k, v in old.items()}
    for k, values in new.items():
        axis = out.setdefault(k, [])
        axis.extend(v for v in values if v not in axis)
    return out


def open_sweep(out: Path, manifest: dict, budget: dict, *, is_cell: Callable[[Path], bool] | None = None,
               write: bool = True, defaults: dict | None = None) -> dict:
    """Create or reopen OUT/sweep.json. `manifest` = {"kind": str, "grid": {axis: [values]}}; `budget` holds every
    setting that makes two runs of a cell differ (steps, batch, lr, ...). Returns the stored record.

    A directory without sweep.json becomes a sweep if it is empty, or if every entry in it passes `is_cell` (cells
    trained before the sweep existed; the caller checks their configs). With write=False nothing is written: the
    checks run and the record that would be stored is returned. `defaults` gives the value of budget keys added
    after a sweep was written (a config field with its default): a stored budget without such a key reads as the
    default, so an old sweep directory stays open to the same command."""
    out = Path(out)
    path = out / "sweep.json"
    budget = json.loads(runs.to_json(budget))        # normalise (tuples -> lists, numpy -> python)
    grid = json.loads(runs.to_json(manifest["grid"]))
    if path.exists():
        rec = runs.read_json(path)
        if rec.get("format") != SWEEP_FORMAT:
            raise UserError(f"{path} was written by another version (format {rec.get('format')!r})")
        if not isinstance(rec.get("grid"), dict) or not isinstance(rec.get("budget"), dict):
            raise UserError(f"corrupt {path}: no grid or budget")
        if rec.get("kind") != manifest["kind"]:
            raise UserError(f"{out} holds a {rec.get('kind')} sweep, not a {manifest['kind']} sweep")
        old = {**{k: v for k, v in json.loads(runs.to_json(defaults or {})).items() if k in budget},
               **rec["budget"]}
        if old != budget:
            diff = sorted(k for k in set(budget) | set(old) if budget.get(k) != old.get(k))
            shown = ", ".join(f"{k} {old.get(k)} -> {budget.get(k)}" for k in diff)
            raise UserError(f"{out} was swept with another budget ({shown}); use a new --out")
        merged = _merged(rec["grid"], grid)
        if merged == rec["grid"] and old == rec["budget"]:
            return rec
        rec = {**rec, "grid": merged, "budget": old}
    else:
        if out.exists() and (not out.is_dir() or not all(is_cell and is_cell(p) for p in out.iterdir())):
            raise UserError(f"{out} exists and is not a sweep directory (no sweep.json)")
        rec = {"format": SWEEP_FORMAT, "kind": manifest["kind"], "grid": grid, "budget": budget,
               "versions": runs.package_versions()}
    if write:
        out.mkdir(parents=True, exist_ok=True)
        runs.write_json(path, rec)
    return rec

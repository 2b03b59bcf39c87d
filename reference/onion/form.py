"""Is the onion intervention's form the bottleneck? (issue 21 part 4) The onion and the onion-free interventions of
the same runs side by side, per hidden size and sequence length.

The onion intervention scales its edit by g ⊙ γ^p + p·ℓ + b, one curve per channel; onion-free by a free vector
S[p] per position. If the gap between the onion's IIA and the model's own exact match comes from that form, the
free scale closes it. Over runs whose RUN/intervene/onion and RUN/intervene/onion-free have both finished at the
same number of steps, grouped by hidden size H, seeds pooled (report_table.stats: mean, std with ddof 1, n):

    model, onion, free             the model's own exact match (RUN/result.json) and the two IIAs, on `valid`
    per_length[L]                  the same three at length L
    closed                         (free − onion) / (model − onion) of each seed, all lengths: the share of the
                                   onion's gap that the free scale closes (1: all of it; < 0: the free form is worse)
    closed_per_length[L]           the same per length, over the seeds whose gap model − onion at L exceeds
                                   MIN_GAP (a share of a gap of nearly nothing is noise); absent if none
Runs lacking either finished analysis, or whose two analyses ran different numbers of steps, are listed in
"skipped" with the reason, never mixed in. The CLI (`onionref form`) writes OUT/form.json and OUT/form.png
(figures_beyond.form_gap).
"""
from __future__ import annotations

from pathlib import Path

from .. import runs
from ..errors import UserError
from .report_table import stats

FORMS = ("onion", "onion-free")
MIN_GAP = 0.01


def run_row(run: Path) -> tuple[dict | None, str | None]:
    """({"hidden", "seed", "steps", "model", "onion", "free", "per_length"}, None) of a run with both analyses
    finished at the same steps, else (None, the reason)."""
    train = runs.finished_result(run)
    if train is None:
        return None, "not a finished run (no DONE / result.json)"
    got = {}
    for form in FORMS:
        d = run / "intervene" / form
        res = runs.finished_result(d) if d.is_dir() else None
        if res is None:
            return None, f"no finished {form} intervention"
        got[form] = res
    steps = {form: got[form]["steps"] for form in FORMS}
    if steps["onion"] != steps["onion-free"]:
        return None, f"onion ran {steps['onion']} steps, onion-free {steps['onion-free']}"
    cfg = runs.read_config(run)
    lengths = sorted(set(train["per_length"]) & set(got["onion"]["per_length"]) & set(got["onion-free"]["per_length"]),
                     key=int)
    per_length = {L: {"model": float(train["per_length"][L]), "onion": float(got["onion"]["per_length"][L]),
                      "free": float(got["onion-free"]["per_length"][L])} for L in lengths}
    return {"hidden": int(cfg["hidden"]), "seed": int(cfg["seed"]), "steps": int(steps["onion"]),
            "model": float(train["accuracy"]), "onion": float(got["onion"]["iia"]),
            "free": float(got["onion-free"]["iia"]), "per_length": per_length}, None


def closed_share(model: float, onion: float, free: float) -> float | None:
    """(free − onion) / (model − onion); None when the onion's gap is at most MIN_GAP."""
    gap = model - onion
    return (free - onion) / gap if gap > MIN_GAP else None


def summarise(rows: list) -> dict:
    """One hidden size's numbers from its runs' run_row dicts (see the module docstring)."""
    lengths = sorted({L for r in rows for L in r["per_length"]}, key=int)
    out = {q: stats([r[q] for r in rows]) for q in ("model", "onion", "free")}
    shares = [s for s in (closed_share(r["model"], r["onion"], r["free"]) for r in rows) if s is not None]
    out["closed"] = stats(shares) if shares else None
    out["per_length"], out["closed_per_length"] = {}, {}
    for L in lengths:
        at = [r["per_length"][L] for r in rows if L in r["per_length"]]
        out["per_length"][L] = {q: stats([a[q] for a in at]) for q in ("model", "onion", "free")}
        shares = [s for s in (closed_share(a["model"], a["onion"], a["free"]) for a in at) if s is not None]
        if shares:
            out["closed_per_length"][L] = stats(shares)
    return out


def form_gap(run_dirs: list) -> dict:
    """{"skipped": [[run, reason]], "groups": [{"hidden", "seeds", "steps", "runs", **summarise}]} sorted by H. A
    path that is not a directory is a UserError; so is nothing to compare, or one H whose runs ran different steps."""
    if not run_dirs:
        raise UserError("no RUN given")
    by_h, skipped = {}, []
    for run in map(Path, run_dirs):
        if not run.is_dir() or not (run / "config.json").is_file():
            raise UserError(f"{run} is not a run directory (no config.json)")
        row, why = run_row(run)
        if row is None:
            skipped.append([str(run), why])
            continue
        by_h.setdefault(row["hidden"], []).append({**row, "run": str(run)})
    if not by_h:
        raise UserError("no run has both a finished onion and onion-free intervention at the same steps: "
                        + "; ".join(f"{r}: {why}" for r, why in skipped))
    groups = []
    for H, rows in sorted(by_h.items()):
        steps = sorted({r["steps"] for r in rows})
        if len(steps) > 1:
            raise UserError(f"the H={H} runs' analyses ran different steps ({', '.join(map(str, steps))}): "
                            "compare one budget at a time")
        groups.append({"hidden": H, "seeds": [r["seed"] for r in rows], "steps": steps[0],
                       "runs": [r["run"] for r in rows], **summarise(rows)})
    return {"min_gap": MIN_GAP, "skipped": skipped, "groups": groups}


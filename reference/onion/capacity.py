"""How many positions an onion holds, measured against predicted (issue 21 part 2, the paper's open question 1).

Over finished GRU runs (RUN/DONE), grouped by (hidden size H, maximum training length max_len), seeds pooled:

    per_length[L][type]    exact match at length L of the run's `valid` set with weights, states and logits rounded
                           to the type (precision.precision_report), mean ± std over seeds (report_table.stats)
    per_length[L]["onion"] the onion intervention's IIA at length L (RUN/intervene/onion/result.json), over the
                           seeds that have a finished one
    accuracy[type], onion  the same over all lengths
    predicted[type]        min over seeds of precision's predicted_positions: the positions whose footprint
                           (median ‖Δh‖∞ / ‖h‖∞ at L = max_len) exceeds the type's unit roundoff u. The footprint is
                           only measured up to max_len, so predicted = max_len reads "at least max_len".
    measured[type]         the longest L whose seeds' mean exact match is ≥ threshold, shorter lengths regardless
                           (0: none). Not "every length up to L": the `valid` set's L = 2 is a data artefact at max_len
                           12 (0.39; docs/beyond-onion.md section 2) and would end such a rule at the first length
    min_footprint          min over positions of the footprint, stats over seeds; min_footprint_over_u_bf16 the
                           same divided by bfloat16's u = 2⁻⁸ (how far the smallest layer is above bfloat16)

Each run's precision report is RUN/precision.json when that was made on the same set, max_len, hidden size and
number of sequences (`onionref precision RUN --n N`), else it is computed and written there (as transition.py keeps
RUN/gates.json). The CLI (`onionref capacity`) writes OUT/capacity.json and OUT/capacity.png (figures_beyond.capacity).
"""
from __future__ import annotations

import math
from pathlib import Path

from .. import runs
from ..errors import UserError
from ..tasks.repeat import load_set
from .precision import TYPES, UNIT_ROUNDOFF, write_report
from .report_table import stats
from .train import load_run

THRESHOLD = 0.5        # exact match a length must reach to count as held
N_SEQUENCES = 2000     # sequences of the `valid` set per precision report (precision_cmd's default)
SAME_TASK = ("task", "no_input", "symbols", "min_len")   # what the runs of one (H, max_len) group must share


def measured_capacity(per_length: dict, threshold: float = THRESHOLD) -> int:
    """The longest L with per_length[L] ≥ threshold (lengths as int or str keys), shorter lengths regardless; 0 if
    none."""
    return max((int(k) for k, v in per_length.items() if v >= threshold), default=0)


def run_precision(run_dir: Path, cfg, params: dict, n: int = N_SEQUENCES) -> dict:
    """precision.precision_report of a run with `onionref precision`'s extra keys, cached in RUN/precision.json
    and drawn in RUN/precision.png (reused when its set, max_len, hidden and number of sequences per type match)."""
    path = Path(run_dir) / "precision.json"
    tokens, _ = load_set("valid", cfg.symbols, cfg.min_len, cfg.max_len)
    n_used = min(n, len(tokens))
    if path.is_file():
        got = runs.read_json(path)
        types = got.get("types")
        if (got.get("set") == "valid" and got.get("max_len") == cfg.max_len and got.get("hidden") == cfg.hidden
                and isinstance(types, dict) and set(types) == set(TYPES)
                and all(isinstance(t, dict) and t.get("n") == n_used for t in types.values())):
            return got
    write_report(run_dir, cfg, params, n)
    return runs.read_json(path)          # the file's form (string length keys), as a cached report would be


def onion_result(run_dir: Path) -> dict | None:
    """RUN/intervene/onion/result.json of a finished onion intervention, or None."""
    d = Path(run_dir) / "intervene" / "onion"
    return runs.finished_result(d) if d.is_dir() else None


def load_runs(run_dirs: list) -> tuple:
    """([(run_dir, cfg, params)] of the finished runs, [unfinished run dirs]); a directory that is not a run is a
    UserError. Everything is read before anything is computed or written."""
    if not run_dirs:
        raise UserError("no RUN given")
    done, skipped, seen = [], [], set()
    for run in map(Path, run_dirs):
        if run.resolve() in seen:
            continue
        seen.add(run.resolve())
        if not run.is_dir():
            raise UserError(f"no run directory at {run}")
        if not (run / "config.json").is_file():
            raise UserError(f"{run} is not a run directory (no config.json)")
        if not (run / "DONE").is_file():
            runs.read_config(run)                       # a corrupt config is still an error
            skipped.append(str(run))
            continue
        cfg, params = load_run(run, what="onionref capacity")
        done.append((run, cfg, params))
    if not done:
        raise UserError("no finished run (RUN/DONE) among " + ", ".join(map(str, run_dirs)))
    return done, skipped


def capacity(run_dirs: list, threshold: float = THRESHOLD, n: int = N_SEQUENCES) -> dict:
    """{"threshold", "sequences", "skipped", "groups": [group]} over finished runs, groups sorted by (H, max_len);
    a group is {"hidden", "max_len", "seeds", "runs", "per_length": {str(L): {type: stats, "onion": stats}},
    "accuracy", "onion", "predicted", "measured", "min_footprint",
    "min_footprint_over_u_bf16"} (see the module docstring)."""
    if not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
        raise UserError(f"--threshold must be in (0, 1], got {threshold}")
    if n < 1:
        raise UserError(f"--n must be >= 1, got {n}")
    done, skipped = load_runs(run_dirs)
    by_group: dict[tuple, list] = {}
    for run, cfg, _ in done:
        by_group.setdefault((cfg.hidden, cfg.max_len), []).append((run, cfg))
    for (H, L), members in by_group.items():
        for key in SAME_TASK:
            if len({getattr(c, key) for _, c in members}) > 1:
                raise UserError(f"the H={H}, max_len={L} runs differ in {key}: "
                                + ", ".join(f"{r} ({getattr(c, key)})" for r, c in members))
    reports = {str(run): run_precision(run, cfg, params, n) for run, cfg, params in done}
    groups = []
    for (H, max_len), members in sorted(by_group.items()):
        rows = [(reports[str(run)], onion_result(run)) for run, _ in members]
        groups.append({"hidden": H, "max_len": max_len, "seeds": [c.seed for _, c in members],
                       "runs": [str(r) for r, _ in members], **summarise(rows, threshold)})
    return {"threshold": threshold, "sequences": n, "skipped": skipped, "groups": groups}


def summarise(rows: list, threshold: float) -> dict:
    """One group's numbers from its runs' [(precision report, onion result or None)], both as read from their JSON
    files (lengths as string keys)."""
    per_length: dict[str, dict] = {}
    lengths = sorted({int(L) for p, _ in rows for L in p["types"]["float64"]["per_length"]})
    for L in lengths:
        cell = {}
        for kind in TYPES:
            vals = [p["types"][kind]["per_length"][str(L)] for p, _ in rows
                    if str(L) in p["types"][kind]["per_length"]]
            cell[kind] = stats(vals)
        onion = [o["per_length"][str(L)] for _, o in rows if o and str(L) in o.get("per_length", {})]
        if onion:
            cell["onion"] = stats(onion)
        per_length[str(L)] = cell
    mean = {kind: {L: c[kind]["mean"] for L, c in per_length.items()} for kind in TYPES}
    smallest = [min(p["footprint"]) for p, _ in rows]
    out = {"per_length": per_length,
           "accuracy": {kind: stats([p["types"][kind]["accuracy"] for p, _ in rows]) for kind in TYPES},
           "predicted": {kind: min(int(p["predicted_positions"][kind]) for p, _ in rows) for kind in TYPES},
           "measured": {kind: measured_capacity(mean[kind], threshold) for kind in TYPES},
           "min_footprint": stats(smallest),
           "min_footprint_over_u_bf16": stats([s / UNIT_ROUNDOFF["bfloat16"] for s in smallest])}
    iia = [float(o["iia"]) for _, o in rows if o and o.get("iia") is not None and math.isfinite(float(o["iia"]))]
    if iia:
        out["onion"] = stats(iia)
    return out

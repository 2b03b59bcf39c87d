"""Is an analysis still rising at its budget? The rule the report marks and `sweep --extend-rising-to` acts on.

    rising  ⇔  s(T) − s(T₀) > RISE,   T₀ = the last evaluation at or before (1 − WINDOW)·T

s(t) is the validation score (IIA or probe accuracy) evaluated at step t and T the last evaluated step up to the
budget: a curve that gained more than 0.01 over the last 20 % of its steps has not converged, and its final score
is a lower bound on what the method finds. Only rows up to `steps` are read, so the decision about a 20,000-step
budget stays the same after the analysis was extended past it.
"""
from __future__ import annotations

WINDOW = 0.2    # the last fifth of the steps
RISE = 0.01     # more than one percentage point of IIA or accuracy


def rise_over_window(rows: list, metric: str, steps: int | None = None) -> float | None:
    """s(T) − s(T₀) over metrics.jsonl rows [{"step", "valid": {metric, ...}}, ...] up to `steps` (default: all);
    None if no evaluation lies at or before (1 − WINDOW)·T, i.e. the curve is too short to judge."""
    rows = sorted((r for r in rows if steps is None or r["step"] <= steps), key=lambda r: r["step"])
    if not rows:
        return None
    last = rows[-1]
    start = [r for r in rows if r["step"] <= (1 - WINDOW) * last["step"]]
    if not start:
        return None
    return float(last["valid"][metric]) - float(start[-1]["valid"][metric])


def still_rising(rows: list, metric: str, steps: int | None = None) -> bool:
    """True if the score rose by more than RISE over the last WINDOW of the steps (see the module docstring)."""
    rise = rise_over_window(rows, metric, steps)
    return rise is not None and rise > RISE

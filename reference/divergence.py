"""Divergence: a step whose loss, gradient or updated parameters are not finite ends a run (training or stage 2).

The loops check the loss and the gradients before the update and the parameters after it. The second check matters
whenever the forward pass cannot blow up by itself: a rotation expm(A) stays orthogonal however large A grows, so
only the parameters show that a huge learning rate has overflowed them. The run is marked FAILED at that step and
its last good checkpoint is left as it was.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import adamw, runs
from .errors import UserError


def update(params: dict, grads: dict, loss: float, opt: dict, opt_cfg: adamw.AdamWConfig) -> str | None:
    """One AdamW step of `params` in place if the loss and gradients are finite; then what is not finite (the loss, a
    gradient, which leaves params untouched, or a parameter after the update), or None."""
    what = nonfinite_step(loss, grads)
    if what is None:
        adamw.step(params, grads, opt, opt_cfg)
        what = nonfinite_params(params)
    return what


def nonfinite_step(loss: float, grads: dict) -> str | None:
    """What is not finite before an update ("the loss", "the gradient of K"), or None."""
    if not np.isfinite(loss):
        return "the loss"
    bad = next((k for k, g in grads.items() if not np.all(np.isfinite(g))), None)
    return None if bad is None else f"the gradient of {bad}"


def nonfinite_params(params: dict) -> str | None:
    """What is not finite after an update ("parameter K after the update"), or None."""
    bad = next((k for k, p in params.items() if not np.all(np.isfinite(p))), None)
    return None if bad is None else f"parameter {bad} after the update"


def fail(run_dir: Path, label: str, step: int, what: str) -> UserError:
    """Mark run_dir FAILED at `step` and return the one-line error to raise."""
    runs.write_json(Path(run_dir) / "FAILED", {"step": step, "reason": f"{what} is not finite"})
    return UserError(f"{label} diverged at step {step}: {what} is not finite; "
                     f"the last good checkpoint is kept, the run is marked FAILED")

"""AdamW with torch.optim.AdamW's exact semantics (decoupled weight decay, bias correction, eps outside the sqrt).

For every parameter p with gradient g, at step t = 1, 2, ...:
    p ← p · (1 − lr·wd)                               decoupled decay, applied first
    m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
    p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
The state is plain arrays (m, v per parameter, and the step count), so it can be saved and resumed exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AdamWConfig:
    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.1


def init_state(params: dict) -> dict:
    """Zero moments for every parameter, step 0."""
    state = {"step": 0}
    for k, v in params.items():
        state["m." + k] = np.zeros_like(v)
        state["v." + k] = np.zeros_like(v)
    return state


def step(params: dict, grads: dict, state: dict, cfg: AdamWConfig) -> None:
    """One AdamW update of `params` in place, for the parameters that have a gradient in `grads`."""
    state["step"] += 1
    t = state["step"]
    b1, b2 = cfg.betas
    bc1 = 1.0 - b1 ** t
    bc2_sqrt = np.sqrt(1.0 - b2 ** t)
    for k, g in grads.items():
        p, m, v = params[k], state["m." + k], state["v." + k]
        p *= 1.0 - cfg.lr * cfg.weight_decay
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        p -= (cfg.lr / bc1) * m / (np.sqrt(v) / bc2_sqrt + cfg.eps)

"""The learned-subspace interchange model of the linear interventions (AutosegmentationInterventionModel, §4.2).

Every state is rotated, s = h Rᵀ (rotation.py). Each rotated channel c belongs to one of V variables or to none
(column V = "keep the base"), by a one-hot assignment A [H, V+1] (hard Gumbel-softmax of logits M in training,
argmax at evaluation). Both interventions of the paper take each variable either from the base run or from one
source run, so with m [B, V] (1 = variable v comes from the source) the mix is
    w[b, c] = Σ_{v<V} A[c, v] · m[b, v]                  ∈ {0, 1}
    s'      = s_base + w ⊙ (s_src − s_base),   h' = s' R
Regulariser (weight 1): 0.001 · (mean(M[:, :V]) − mean(M[:, V])), pushing channels toward "keep".
"""
from __future__ import annotations

import numpy as np

from . import gumbel, rotation

REG = 0.001


def init(hidden: int, n_vars: int, rng: np.random.Generator):
    """(params {"X", "M"}, base): rotation from torch's init, logits M ~ 0.01·N(0, 1) of shape [H, V+1]."""
    params, base = rotation.init(hidden, rng)
    params["M"] = 0.01 * rng.standard_normal((hidden, n_vars + 1))
    return params, base


def forward(params, base, h_base, h_src, m, noise=None):
    """h_base, h_src [B, H], m [B, V] in {0,1}; noise [H, V+1] (training) or None (eval, argmax).

    Returns (h' [B, H], reg, cache)."""
    R, rc = rotation.forward(params["X"], base)
    M = params["M"]
    if noise is None:
        A, gc = gumbel.one_hot_argmax(M), None
    else:
        A, gc = gumbel.forward(M, noise)
    V = M.shape[1] - 1
    s_base, s_src = h_base @ R.T, h_src @ R.T
    w = m @ A[:, :V].T
    s_new = s_base + w * (s_src - s_base)
    reg = REG * (M[:, :V].mean() - M[:, V].mean())
    return s_new @ R, reg, (R, rc, A, gc, h_base, h_src, s_base, s_src, s_new, m)


def backward(dh_new, cache):
    """dℓ/dh' [B, H] → grads {"X", "M"} (the regulariser's gradient included)."""
    R, rc, A, gc, h_base, h_src, s_base, s_src, s_new, m = cache
    V = A.shape[1] - 1
    dR = s_new.T @ dh_new                        # h' = s' R
    ds_new = dh_new @ R.T
    diff = s_src - s_base
    w = m @ A[:, :V].T
    dA = np.zeros_like(A)
    dA[:, :V] = (ds_new * diff).T @ m            # w = m Aᵀ
    ds_src, ds_base = ds_new * w, ds_new * (1.0 - w)
    dR += ds_src.T @ h_src + ds_base.T @ h_base  # s = h Rᵀ
    dM = gumbel.backward(dA, gc) if gc is not None else np.zeros_like(A)
    H = A.shape[0]
    dM[:, :V] += REG / (H * V)
    dM[:, V] -= REG / H
    return {"X": rotation.backward(dR, rc), "M": dM}

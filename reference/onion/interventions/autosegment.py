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

from . import autosegment_numba, gumbel, rotation

REG = 0.001


def init(hidden: int, n_vars: int, rng: np.random.Generator):
    """(params {"X", "M"}, base): rotation from torch's init, logits M ~ 0.01·N(0, 1) of shape [H, V+1]."""
    params, base = rotation.init(hidden, rng)
    params["M"] = 0.01 * rng.standard_normal((hidden, n_vars + 1))
    return params, base


def forward(params, base, h, src, m, noise=None, orthogonal_map: str = "matrix_exp", fast: bool = False):
    """h [N, H] the encoded states, whose first B rows are the bases; src [B] the distinct rows of h that are the
    bases' sources (unigram: each base's partner among the bases; n-gram: rows B..2B−1); m [B, V] in {0,1};
    noise [H, V+1] (training) or None (eval, argmax). Every row of h is rotated once (one GEMM), in h's precision.
    orthogonal_map: the rotation's parametrisation (rotation.py; the paper's is matrix_exp).
    fast: the Gumbel assignment, the products with R, the mix and their backward in autosegment_numba.py's two
    kernels and the rotation in rotation_numba.py's (the numba backend), else in NumPy.

    Returns (h' [B, H], reg, cache)."""
    R, rc = rotation.forward(params["X"], base, orthogonal_map, fast)
    M = params["M"]
    B, V = len(src), M.shape[1] - 1
    reg = REG * (M[:, :V].sum() / (M.shape[0] * V) - M[:, V].sum() / M.shape[0])   # the means, as np.mean sums
    R = R.astype(h.dtype, copy=False)
    m = m.astype(h.dtype, copy=False)
    if fast:
        var, y = autosegment_numba.assign(M, _NO_NOISE if noise is None else noise, 1.0, noise is not None)
        src, m = np.ascontiguousarray(src, np.int64), np.ascontiguousarray(m)
        s, s_new, h_new = autosegment_numba.interchange_forward(np.ascontiguousarray(h), R, src, m, var)
        return h_new, reg, (True, R, rc, M, var, y, h, src, m, s_new, s)
    if noise is None:
        A, gc = gumbel.one_hot_argmax(M), None
    else:
        A, gc = gumbel.forward(M, noise)
    s = h @ R.T
    s_base, s_src = s[:B], s[src]
    w = _mix(m, A)
    s_new = s_base + w * (s_src - s_base)
    return s_new @ R, reg, (False, R, rc, A, gc, h, src, m, s_new, (s_base, s_src, w))


_NO_NOISE = np.zeros((0, 0))


def _mix(m, A):
    """w [B, H] = m A[:, :V]ᵀ for a one-hot A: channel c takes m[:, v] of its variable v, or 0 if it keeps the base."""
    V = A.shape[1] - 1
    var = A.argmax(axis=1)
    return np.where(var < V, m[:, np.minimum(var, V - 1)], 0).astype(m.dtype, copy=False)


def backward(dh_new, cache):
    """dℓ/dh' [B, H] → grads {"X", "M"} (the regulariser's gradient included; the fast path's dM in M's dtype)."""
    if cache[0]:
        _, R, rc, M, var, y, h, src, m, s_new, s = cache
        H, V = M.shape[0], M.shape[1] - 1
        dM = np.empty_like(M)
        dR = autosegment_numba.interchange_backward(np.ascontiguousarray(dh_new, h.dtype), R, h, s, s_new, src, m,
                                                    var, y, 1.0, REG / (H * V), REG / H, dM)
        return {"X": rotation.backward(dR, rc), "M": dM}
    _, R, rc, A, gc, h, src, m, s_new, (s_base, s_src, w) = cache
    H, V = A.shape[0], A.shape[1] - 1
    dh_new = dh_new.astype(h.dtype, copy=False)
    dR = s_new.T @ dh_new                        # h' = s' R
    ds_new = dh_new @ R.T
    t = ds_new * (s_src - s_base)
    ds = np.zeros_like(h)                        # s = h Rᵀ for every row; rows are bases, sources or both
    ds[:len(src)] = ds_new * (1.0 - w)
    ds[src] += ds_new * w                        # src holds distinct rows
    dA = np.zeros_like(A)
    dA[:, :V] = t.T @ m                          # w = m Aᵀ
    dR += ds.T @ h
    dM = gumbel.backward(dA, gc) if gc is not None else np.zeros_like(A)
    dM[:, :V] += REG / (H * V)
    dM[:, V] -= REG / H
    return {"X": rotation.backward(dR, rc), "M": dM}

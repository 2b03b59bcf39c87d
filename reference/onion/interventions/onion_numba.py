"""The onion intervention's state edit and its backward pass as Numba kernels (interventions/onion.py, float32).

    h'_i = h̃_i + (tE[x_orig,i] − tE[x_new,i]) ⊙ sc[p_i]          tE = tanh E [C, H],  sc = scale(0..T−1) [T, H]
Both tables are computed once a step in NumPy (C·H and T·H numbers) instead of per row (B·H): the backward pass
then only sums rows by position and by token,
    dsc[q] = Σ_{i: p_i = q} dh'_i ⊙ (tE[x_orig,i] − tE[x_new,i])           → scale_backward (NumPy) on [T, H]
    dtE[c] = Σ_{i: x_orig,i = c} dh'_i ⊙ sc[p_i] − Σ_{i: x_new,i = c} dh'_i ⊙ sc[p_i],    dE = dtE ⊙ (1 − tE²)
which is the reference's gradient with its sums grouped differently (equal up to float32 rounding).
"""
from __future__ import annotations

import sys

from numba import njit

from ...cells.gru_numba_kernels import JIT
from ...jit.cache import drop_stale_cache


@njit(**JIT)
def edit_forward(h, tE, sc, p, xo, xn, out):
    """out [B, H] = h + (tE[xo] − tE[xn]) ⊙ sc[p]."""
    for i in range(h.shape[0]):
        a, c, q = xo[i], xn[i], p[i]
        for j in range(h.shape[1]):
            out[i, j] = h[i, j] + (tE[a, j] - tE[c, j]) * sc[q, j]


@njit(**JIT)
def edit_backward(dh, tE, sc, p, xo, xn, dsc, dtE):
    """dsc [T, H] and dtE [C, H] (both written) from dh' [B, H], as in the module docstring."""
    dsc[:, :] = 0
    dtE[:, :] = 0
    for i in range(dh.shape[0]):
        a, c, q = xo[i], xn[i], p[i]
        for j in range(dh.shape[1]):
            d = dh[i, j]
            dsc[q, j] += d * (tE[a, j] - tE[c, j])
            ds = d * sc[q, j]
            dtE[a, j] += ds
            dtE[c, j] -= ds


drop_stale_cache([sys.modules[__name__]])

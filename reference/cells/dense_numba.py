"""A Linear + ReLU layer over rows, forward and backward side by side, as Numba kernels (the probes' hidden layers).

    r = ReLU(x Wᵀ + b)                 x [n, I], W [O, I], b [O], r [n, O]
    da = dr ⊙ [r > 0]   (in place)     dW = daᵀ x,  db = Σ_rows da,  dx = da W (only if wanted)
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .gru_numba_kernels import JIT
from ..jit.blas import gemm

_F = np.float32


@njit(**JIT)
def linear_relu_forward(x, w, b, r):
    """r = ReLU(x Wᵀ + b), written into r [n, O]."""
    n, O = r.shape
    for i in range(n):
        r[i, :] = b
    gemm(False, True, _F(1.0), x, w, _F(1.0), r)
    for i in range(n):
        for j in range(O):
            r[i, j] = max(r[i, j], _F(0.0))


@njit(**JIT)
def linear_relu_backward(dr, r, x, w, dw, db, dx, want_dx):
    """dr [n, O] (overwritten with da = dr ⊙ [r > 0]) → dw [O, I], db [O] written; dx [n, I] = da W if want_dx."""
    n, O = dr.shape
    for i in range(n):
        for j in range(O):
            dr[i, j] = dr[i, j] if r[i, j] > 0 else _F(0.0)
    gemm(True, False, _F(1.0), dr, x, _F(0.0), dw)
    db[:] = 0
    for i in range(n):
        for j in range(O):
            db[j] += dr[i, j]
    if want_dx:
        gemm(False, False, _F(1.0), dr, w, _F(0.0), dx)

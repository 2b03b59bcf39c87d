"""The linear head and the token cross-entropy of one batch chunk, forward and backward, as Numba kernels.

    logits = h W_oᵀ + b_o        loss = mean over valid positions of  logsumexp(logits) − logits[target]
    dlogits = (softmax − onehot) / n_valid        dh = dlogits W_o      dW_o = dlogitsᵀ h      db_o = Σ dlogits
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .gru_numba_kernels import JIT
from .numba_blas import gemm
from .numba_math import exp32

_F = np.float32


@njit(**JIT)
def head_forward_chunk(hs, wo, bo, logits):
    """logits = hs W_oᵀ + b_o.   hs [n, H], wo [C, H], bo [C], logits [n, C] written."""
    for i in range(logits.shape[0]):
        for k in range(logits.shape[1]):
            logits[i, k] = bo[k]
    gemm(False, True, _F(1.0), hs, wo, _F(1.0), logits)


@njit(**JIT)
def cross_entropy_chunk(logits, target, msk, b0, inv_n, dlogits):
    """Summed token cross-entropy of one chunk and its gradient, for a loss averaged over n valid positions.

        loss_i = logsumexp(l_i) − l_i[y_i]      dlogits_i = (softmax(l_i) − onehot(y_i)) / n   (0 where masked)

    logits, dlogits [T·bc, C] (row t·bc + b), target / msk [T, B], inv_n = 1/n. Returns the sum of loss_i (float64)."""
    T = target.shape[0]
    bc = logits.shape[0] // T
    inv = _F(inv_n)
    total = 0.0
    for t in range(T):
        for b in range(bc):
            i = t * bc + b
            if msk[t, b0 + b]:
                total += cross_entropy_row(logits, dlogits, i, target[t, b0 + b], inv)
            else:
                dlogits[i, :] = 0.0
    return total


@njit(**JIT)
def cross_entropy_row(logits, dlogits, i, y, inv):
    """Row i: returns logsumexp(l) − l[y] (float64) and writes dlogits[i] = (softmax(l) − onehot(y))·inv."""
    C = logits.shape[1]
    mx = logits[i, 0]
    for k in range(1, C):
        mx = max(mx, logits[i, k])
    ssum = _F(0.0)
    for k in range(C):
        e = exp32(logits[i, k] - mx)
        dlogits[i, k] = e
        ssum += e
    scale = inv / ssum
    for k in range(C):
        dlogits[i, k] *= scale
    dlogits[i, y] -= inv
    return float(mx) + math.log(float(ssum)) - float(logits[i, y])


@njit(**JIT)
def head_backward_chunk(dlogits, wo, hs, dhs, dwo, dbo, param_grads):
    """dhs = dlogits W_o;  dW_o = dlogitsᵀ hs,  db_o = Σ_rows dlogits (only if param_grads).

    dlogits [n, C], wo [C, H], hs [n, H], dhs [n, H] written, dwo [C, H] and dbo [C] written."""
    gemm(False, False, _F(1.0), dlogits, wo, _F(0.0), dhs)
    if param_grads:
        gemm(True, False, _F(1.0), dlogits, hs, _F(0.0), dwo)
        dbo[:] = 0.0
        for i in range(dlogits.shape[0]):
            for k in range(dlogits.shape[1]):
                dbo[k] += dlogits[i, k]

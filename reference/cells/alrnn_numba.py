"""The AL-RNN's fast path (Numba, float32): cells/alrnn.py's forward and backward over a whole sequence.

    forward(s, params)                 -> zs [T, B, M]          (z_0 = 0)
    backward(dzs, zs, s, params)       -> grads {A, W, C, h}

Per time step and batch chunk: one GEMM forward (Φ*(z) Wᵀ, plus s Cᵀ with K ≤ 20 inputs), one backward (dz W),
and the weight gradients accumulated per step into the chunk's own partial sums (dW += dzᵀ Φ*(z_{t−1}),
dC += dzᵀ s_t), all in one GIL-free call per chunk (jit/threads.py: one chunk per thread, BLAS pinned to one
thread). Partial gradients are summed in chunk order: bit-identical results for a fixed thread count.
Each chunk flushes denormals to zero while it runs (jit/denormals.py; the NumPy reference does not): the gradient
sent back through time decays below 1.2e-38, and `onionref bench --alrnn --threads 1` went from 20.9 to 4.6 ms of
CPU time a step (trained weights stayed bit-identical on the addition runs checked).
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit

from .gru_numba_kernels import JIT
from ..jit import blas, denormals
from ..jit.blas import gemm
from ..jit.denormals import flush_denormals, restore_mxcsr
from ..jit.cache import drop_stale_cache
from ..jit.threads import chunk_bounds, get_threads, pin_blas, run_chunks, set_threads

__all__ = ["forward", "backward", "set_threads", "get_threads", "pin_blas"]
F32 = np.float32


@njit(**JIT)
def _phi_into(z, P, out):
    """out = Φ*(z) for z [n, M]: ReLU on the last P columns."""
    n, M = z.shape
    for b in range(n):
        for m in range(M - P):
            out[b, m] = z[b, m]
        for m in range(M - P, M):
            out[b, m] = z[b, m] if z[b, m] > 0 else F32(0)


@njit(**JIT)
def forward_chunk(c, bounds, s, a, W, C, h, zs):
    """zs[t, b0:b1] for chunk c. s [T, B, K], a [P], W [M, M], C [M, K], h [M]; zs [T, B, M] is written.
    Denormals are flushed to zero on this thread while it runs (jit/denormals.py)."""
    mxcsr = flush_denormals()
    b0, b1 = bounds[c], bounds[c + 1]
    T, M, P = zs.shape[0], zs.shape[2], a.shape[0]
    nb = b1 - b0
    fz = np.zeros((nb, M), dtype=F32)
    one = F32(1)
    for t in range(T):
        zt = zs[t, b0:b1]
        for b in range(nb):
            for m in range(M):
                zt[b, m] = h[m]
        gemm(False, True, one, s[t, b0:b1], C, one, zt)
        if t > 0:
            zp = zs[t - 1, b0:b1]
            gemm(False, True, one, fz, W, one, zt)
            for b in range(nb):
                for k in range(P):
                    zt[b, M - P + k] += a[k] * zp[b, M - P + k]
        _phi_into(zt, P, fz)
    restore_mxcsr(mxcsr)


@njit(**JIT)
def backward_chunk(c, bounds, dzs, zs, s, a, W, dW, dC, dh, dA):
    """Backpropagation through time for chunk c; its partial gradients go to dW[c], dC[c], dh[c], dA[c].
    Denormals are flushed to zero on this thread while it runs (jit/denormals.py): with a small W the gradient sent
    back through time decays into the denormal range within a few steps, and every later step would run on them."""
    mxcsr = flush_denormals()
    b0, b1 = bounds[c], bounds[c + 1]
    T, M, P = zs.shape[0], zs.shape[2], a.shape[0]
    nb = b1 - b0
    g = np.zeros((nb, M), dtype=F32)       # dL/dz_t, all paths
    carry = np.zeros((nb, M), dtype=F32)   # the part that came back from step t+1
    fz = np.zeros((nb, M), dtype=F32)
    one, zero = F32(1), F32(0)
    gW, gC, gh, gA = dW[c], dC[c], dh[c], dA[c]
    for t in range(T - 1, -1, -1):
        dzt = dzs[t, b0:b1]
        for b in range(nb):
            for m in range(M):
                g[b, m] = dzt[b, m] + carry[b, m]
                gh[m] += g[b, m]
        gemm(True, False, one, g, s[t, b0:b1], one, gC)
        if t == 0:
            break                          # z_0 = 0: no W, A gradient and nothing further back
        zp = zs[t - 1, b0:b1]
        _phi_into(zp, P, fz)
        gemm(True, False, one, g, fz, one, gW)
        gemm(False, False, one, g, W, zero, carry)
        for b in range(nb):
            for k in range(P):
                m = M - P + k
                gA[k] += g[b, m] * zp[b, m]
                carry[b, m] = (carry[b, m] if zp[b, m] > 0 else zero) + a[k] * g[b, m]
    restore_mxcsr(mxcsr)


drop_stale_cache([blas, denormals, sys.modules[__name__]])


def _f32(a):
    return np.ascontiguousarray(a, dtype=F32)


def forward(s, params) -> np.ndarray:
    """zs [T, B, M] (float32) for inputs s [T, B, K], z_0 = 0."""
    s = _f32(s)
    T, B = s.shape[:2]
    M = params["W"].shape[0]
    zs = np.empty((T, B, M), dtype=F32)
    bounds = chunk_bounds(B)
    run_chunks(forward_chunk, len(bounds) - 1, bounds, s, _f32(params["A"]), _f32(params["W"]), _f32(params["C"]),
               _f32(params["h"]), zs)
    return zs


def backward(dzs, zs, s, params) -> dict:
    """Gradients {A, W, C, h} (float32) from dzs [T, B, M] = dL/dzs, the forward's zs and the inputs s."""
    s, dzs = _f32(s), _f32(dzs)
    B = s.shape[1]
    M, K, P = params["W"].shape[0], params["C"].shape[1], params["A"].shape[0]
    bounds = chunk_bounds(B)
    nc = len(bounds) - 1
    dW, dC = np.zeros((nc, M, M), F32), np.zeros((nc, M, K), F32)
    dh, dA = np.zeros((nc, M), F32), np.zeros((nc, P), F32)
    run_chunks(backward_chunk, nc, bounds, dzs, zs, s, _f32(params["A"]), _f32(params["W"]), dW, dC, dh, dA)
    # Summed in chunk order, one chunk after the other: the same sum for the same thread count.
    grads = {"A": dA[0], "W": dW[0], "C": dC[0], "h": dh[0]}
    for c in range(1, nc):
        grads = {"A": grads["A"] + dA[c], "W": grads["W"] + dW[c], "C": grads["C"] + dC[c], "h": grads["h"] + dh[c]}
    return {k: np.ascontiguousarray(v) for k, v in grads.items()}

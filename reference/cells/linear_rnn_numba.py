"""The fast path of cells/linear_rnn.py (Numba): recurrence, readout, weighted squared error and the whole backward
pass fused into one loop per sequence, for a stack of S independent models. Tested against the NumPy reference.

    h_t = W_x x_t + W_h σ_h(h_{t−1});  ŷ_t = σ_y(W_yᵀ h_t + b);  L_s = (1/TB) Σ_{t,b,i} I_i (y − ŷ)²

The NumPy version spends its time on a dozen small array operations per time step; here a sequence's whole forward
and backward pass runs in registers-sized buffers. Plain serial loops (no fastmath, no threads): results are
deterministic, and the sweep runs one process per core.
"""
from __future__ import annotations

import numba
import numpy as np

from ..jit.cache import drop_stale_cache


@numba.njit(cache=True)
def _kernel(x, y, W_x, W_h, W_y, b, imp, relu_h, relu_y, loss, dW_x, dW_h, dW_y, db):
    S, B, T, n_x = x.shape                                   # sequence-major: one sequence is contiguous
    n_h = W_h.shape[1]
    scale = 1.0 / (T * B)
    h = np.empty((T, n_h))
    sig = np.empty((T, n_h))
    dz = np.empty((T, n_x))
    g = np.empty(n_h)
    carry = np.empty(n_h)
    for s in range(S):
        for bb in range(B):
            for t in range(T):                                   # forward
                for i in range(n_h):
                    acc = 0.0
                    for j in range(n_x):
                        acc += W_x[s, i, j] * x[s, bb, t, j]
                    if t > 0:
                        for j in range(n_h):
                            acc += W_h[s, i, j] * sig[t - 1, j]
                    h[t, i] = acc
                    sig[t, i] = max(acc, 0.0) if relu_h else acc
                for o in range(n_x):
                    z = b[s, o]
                    for i in range(n_h):
                        z += W_y[s, i, o] * h[t, i]
                    yh = max(z, 0.0) if relu_y else z
                    e = yh - y[s, bb, t, o]
                    loss[s] += imp[o] * e * e * scale
                    d = 2.0 * imp[o] * e * scale
                    dz[t, o] = d if (not relu_y or z > 0.0) else 0.0
            for i in range(n_h):
                carry[i] = 0.0
            for t in range(T - 1, -1, -1):                       # backward
                for i in range(n_h):
                    acc = carry[i]
                    for o in range(n_x):
                        acc += W_y[s, i, o] * dz[t, o]
                        dW_y[s, i, o] += h[t, i] * dz[t, o]
                    g[i] = acc
                for o in range(n_x):
                    db[s, o] += dz[t, o]
                for i in range(n_h):
                    for j in range(n_x):
                        dW_x[s, i, j] += g[i] * x[s, bb, t, j]
                    if t > 0:
                        for j in range(n_h):
                            dW_h[s, i, j] += g[i] * sig[t - 1, j]
                if t > 0:
                    for j in range(n_h):
                        acc = 0.0
                        for i in range(n_h):
                            acc += W_h[s, i, j] * g[i]
                        carry[j] = acc if (not relu_h or h[t - 1, j] > 0.0) else 0.0


drop_stale_cache([__import__(__name__, fromlist=["_"])])


def loss_and_grads(x, y, W_x, W_h, W_y, b, importance, relu_h: bool, relu_y: bool):
    """Shapes as in linear_rnn.py with one leading model axis S: x, y [S, T, B, N_x], W_x [S, N_h, N_x],
    W_h [S, N_h, N_h], W_y [S, N_h, N_x], b [S, N_x] or None. Returns (loss [S], {"W_x", "W_h", "W_y", "b"})."""
    S, n_x = x.shape[0], x.shape[-1]
    f = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    seq = lambda a: f(np.swapaxes(a, 1, 2))  # noqa: E731  [S, B, T, N_x]
    bias = np.zeros((S, n_x)) if b is None else f(b)
    loss = np.zeros(S)
    grads = {"W_x": np.zeros(W_x.shape), "W_h": np.zeros(W_h.shape), "W_y": np.zeros(W_y.shape),
             "b": np.zeros((S, n_x))}
    _kernel(seq(x), seq(y), f(W_x), f(W_h), f(W_y), bias, f(importance), relu_h, relu_y, loss,
            grads["W_x"], grads["W_h"], grads["W_y"], grads["b"])
    return loss, grads

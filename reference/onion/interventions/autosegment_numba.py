"""The interchange mix of autosegment.py and its backward pass as Numba kernels (the numba backend's path).

With var[c] ∈ 0..V the variable of rotated channel c (V = keep the base), the mix weight is
w[b, c] = m[b, var[c]] if var[c] < V else 0, and (autosegment.py's equations)
    s'[b]        = s[b] + w[b] ⊙ (s[src[b]] − s[b])                                     b < B
    ds[b]       += ds'[b] ⊙ (1 − w[b]),   ds[src[b]] += ds'[b] ⊙ w[b]
    t[b, c]      = ds'[b, c] (s[src[b], c] − s[b, c])        (then dA[:, :V] = tᵀ m, one GEMM: interchange_backward)
One pass over the rows each, reading the bases and sources in place instead of NumPy's copies, masks and
temporaries (w, s_src, s_src − s_base, the [H, V+1] one-hot). w ∈ {0, 1} and every ds entry gets at most two
terms: the same numbers as the NumPy path.

`interchange_forward` / `interchange_backward` take the whole of autosegment.py's fast path, the rotation's products
and the Gumbel-softmax assignment included, in one call each (two instead of ~45 NumPy calls, which inside an
analysis step cost ~5 µs each after the GRU kernels have filled the caches):
    forward:   var[c] = argmax_k y[c, k], y = softmax((M + g) / τ) (training; argmax_k M[c, k] at evaluation),
               s = h Rᵀ, s' = mix(s), h' = s' R
    backward:  dR = s'ᵀ dh' + dsᵀ h, ds' = dh' Rᵀ (mix backward as above),
               dA[c, v] = Σ_b t[b, c] m[b, v] (v < V; 0 for v = V), dM = y ⊙ (dA − Σ_k dA y) / τ (straight-through,
               gumbel.py) + the regulariser's constant gradient.
The products run in BLAS as the NumPy path's do; softmax sums run in another order (y to rounding). y is float64 as
in gumbel.py (M float32 + noise float64).
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit

from ...cells.gru_numba_kernels import JIT
from ...jit.cache import drop_stale_cache


@njit(**JIT)
def mix_forward(s, src, m, var, out):
    """s [N, H] rotated states, src [B] int64, m [B, V] float32, var [H] int64 → out [B, H] = s' (written)."""
    V = m.shape[1]
    for b in range(out.shape[0]):
        r = src[b]
        for c in range(out.shape[1]):
            v = var[c]
            w = m[b, v] if v < V else np.float32(0.0)
            out[b, c] = s[b, c] + w * (s[r, c] - s[b, c])


@njit(**JIT)
def mix_backward(ds_new, s, src, m, var, ds, t):
    """ds' [B, H] → ds [N, H] and t [B, H] (both written, every entry), as in the module docstring."""
    V = m.shape[1]
    ds[:, :] = 0
    for b in range(ds_new.shape[0]):
        r = src[b]
        for c in range(ds_new.shape[1]):
            v, d = var[c], ds_new[b, c]
            w = m[b, v] if v < V else np.float32(0.0)
            ds[b, c] += d * (np.float32(1.0) - w)
            ds[r, c] += d * w
            t[b, c] = d * (s[r, c] - s[b, c])


@njit(**JIT)
def assign(M, noise, tau, train):
    """(var [H] int64, y [H, V+1] float64): the hard Gumbel-softmax assignment (gumbel.forward) in training, the
    argmax of M at evaluation (y then empty)."""
    H, K = M.shape
    var = np.empty(H, np.int64)
    y = np.empty((H if train else 0, K))
    for c in range(H):
        if not train:
            best = 0
            for k in range(1, K):
                if M[c, k] > M[c, best]:
                    best = k
            var[c] = best
            continue
        zmax = -np.inf
        for k in range(K):
            y[c, k] = (np.float64(M[c, k]) + noise[c, k]) / tau
            zmax = max(zmax, y[c, k])
        tot = 0.0
        for k in range(K):
            y[c, k] = np.exp(y[c, k] - zmax)
            tot += y[c, k]
        best = 0
        for k in range(K):
            y[c, k] /= tot
            if y[c, k] > y[c, best]:
                best = k
        var[c] = best
    return var, y


@njit(**JIT)
def interchange_forward(h, R, src, m, var):
    """h [N, H], R [H, H], src [B], m [B, V], var [H] → (s = h Rᵀ [N, H], s' [B, H], h' = s' R [B, H])."""
    s = np.dot(h, R.T)
    s_new = np.empty((len(src), h.shape[1]), h.dtype)
    mix_forward(s, src, m, var, s_new)
    return s, s_new, np.dot(s_new, R)


@njit(**JIT)
def interchange_backward(dh_new, R, h, s, s_new, src, m, var, y, tau, reg_var, reg_keep, dM):
    """dℓ/dh' [B, H] → dℓ/dR [H, H] (returned) and dℓ/dM [H, V+1] (written into dM, M's dtype): the module
    docstring's backward; y empty (evaluation): no Gumbel gradient, the regulariser's only."""
    dR = np.dot(s_new.T, dh_new)
    ds_new = np.dot(dh_new, R.T)
    ds, t = np.empty_like(h), np.empty_like(ds_new)
    mix_backward(ds_new, s, src, m, var, ds, t)
    dR += np.dot(ds.T, h)
    dA = np.dot(t.T, m)                                # [H, V]; column V (keep) has no gradient
    H, V = dA.shape
    for c in range(H):
        acc = 0.0
        if y.shape[0]:
            for v in range(V):
                acc += np.float64(dA[c, v]) * y[c, v]
        for k in range(V + 1):
            g = y[c, k] * ((np.float64(dA[c, k]) if k < V else 0.0) - acc) / tau if y.shape[0] else 0.0
            dM[c, k] = g + (reg_var if k < V else -reg_keep)
    return dR


drop_stale_cache([sys.modules[__name__]])

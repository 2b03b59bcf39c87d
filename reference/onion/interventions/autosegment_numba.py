"""The interchange mix of autosegment.py and its backward pass as Numba kernels (the numba backend's path).

With var[c] ∈ 0..V the variable of rotated channel c (V = keep the base), the mix weight is
w[b, c] = m[b, var[c]] if var[c] < V else 0, and (autosegment.py's equations)
    s'[b]        = s[b] + w[b] ⊙ (s[src[b]] − s[b])                                     b < B
    ds[b]       += ds'[b] ⊙ (1 − w[b]),   ds[src[b]] += ds'[b] ⊙ w[b]
    t[b, c]      = ds'[b, c] (s[src[b], c] − s[b, c])        (then dA[:, :V] = tᵀ m, one GEMM, by the caller)
One pass over the rows each, reading the bases and sources in place instead of NumPy's copies, masks and
temporaries (w, s_src, s_src − s_base, the [H, V+1] one-hot). w ∈ {0, 1} and every ds entry gets at most two
terms: the same numbers as the NumPy path.
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


drop_stale_cache([sys.modules[__name__]])

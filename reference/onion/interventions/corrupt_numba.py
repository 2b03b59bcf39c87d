"""corrupt.py's fills for the linear interventions as Numba kernels (the numba backend's path).

corrupt.py draws the random numbers, from the same Generator in the same order either way; these kernels then
build the inputs, partners and variable masks in one pass instead of NumPy's fancy indexing and temporaries
(about 15 NumPy calls each, ~5 µs apiece inside an analysis step). Integer and 0/1 outputs: exactly the NumPy path's.
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit

from ...cells.gru_numba_kernels import JIT
from ...jit.cache import drop_stale_cache


@njit(**JIT)
def unigram_fill(tokens, lengths, perm, swap, n_vars):
    """corrupt.unigram_pairs after its draws: pairs (perm[2i], perm[2i+1]) swap position t where swap[i, t] and
    t < both lengths. Returns (inputs [B, Lmax], partner [B] int64, m [B, n_vars] float64)."""
    B, L = tokens.shape
    inputs = tokens.copy()
    partner = np.empty(B, np.int64)
    m = np.zeros((B, n_vars))
    for i in range(B // 2):
        a, b = perm[2 * i], perm[2 * i + 1]
        partner[a], partner[b] = b, a
        for t in range(min(lengths[a], lengths[b], L)):
            if swap[i, t]:
                inputs[a, t], inputs[b, t] = tokens[b, t], tokens[a, t]
                if t < n_vars:
                    m[a, t] = m[b, t] = 1.0
    return inputs, partner, m


@njit(**JIT)
def ngram_fill(tokens, lengths, n, n_vars, p, new, noise):
    """corrupt.ngram_window after its draws p [B], new [B], noise [B, Lmax]. Returns (base, source, m)."""
    B, L = tokens.shape
    base = np.zeros_like(tokens)
    source = np.zeros_like(tokens)
    m = np.zeros((B, n_vars))
    for b in range(B):
        for t in range(min(lengths[b], L)):
            base[b, t] = new[b] if t == p[b] else tokens[b, t]
            source[b, t] = tokens[b, t] if abs(t - p[b]) <= n - 1 else noise[b, t]
        for j in range(max(0, p[b] - n + 1), min(p[b] + 1, n_vars)):
            m[b, j] = 1.0
    return base, source, m


drop_stale_cache([sys.modules[__name__]])

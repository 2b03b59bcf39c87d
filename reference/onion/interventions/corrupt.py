"""How the interchange interventions build their base and source inputs (spec §4.2, §4.3).

Every function takes original sequences tokens [B, Lmax], lengths [B] and a Generator, and returns arrays of the
same shapes; targets are always the original sequences.
"""
from __future__ import annotations

import numpy as np

from . import corrupt_numba


def unigram_pairs(tokens, lengths, n_vars: int, rng, fast: bool = False):
    """ElementwiseIntervention: random pairs (a, b), a shared mask m_t ~ Bernoulli(0.5) for t < min(L_a, L_b).

    Returns (inputs [B, Lmax], partner [B], m [B, V]): a's base input x̃_a = x_b where m else x_a; a's source is
    its partner's input x̃_b, which holds x_a[t] at every swapped position t; m[a, t] = 1 moves variable t.
    fast: the same draws, the fill in corrupt_numba.py (the numba backend)."""
    B = len(lengths)
    if B % 2:
        raise ValueError("the unigram intervention pairs sequences: the batch size must be even")
    perm = rng.permutation(B)
    a, b = perm[0::2], perm[1::2]
    Lmax = tokens.shape[1]
    m_pair = rng.random((B // 2, Lmax)) < 0.5
    if fast:
        return corrupt_numba.unigram_fill(np.ascontiguousarray(tokens), np.ascontiguousarray(lengths, np.int64), perm,
                                          m_pair, n_vars)
    m_pair &= np.arange(Lmax)[None, :] < np.minimum(lengths[a], lengths[b])[:, None]
    inputs = tokens.copy()
    inputs[a] = np.where(m_pair, tokens[b], tokens[a])
    inputs[b] = np.where(m_pair, tokens[a], tokens[b])
    partner = np.empty(B, dtype=np.int64)
    partner[a], partner[b] = b, a
    m = np.zeros((B, n_vars))
    m[a] = m_pair[:, :n_vars]
    m[b] = m_pair[:, :n_vars]
    return inputs, partner, m


def ngram_window(tokens, lengths, n: int, n_vars: int, n_symbols: int, rng, fast: bool = False):
    """NgramIntervention: one position p ~ U{0..L−1} per sequence.

    base   = x with x[p] := a uniform random token (it may equal the original);
    source = uniform random tokens, except positions p−(n−1) .. p+(n−1), which keep the original;
    m[b, j] = 1 for the variables j (window j..j+n−1) that contain p, j in 0..V−1.
    Returns (base [B, Lmax], source [B, Lmax], m [B, V], p [B]).
    fast: the same draws, the fill in corrupt_numba.py (the numba backend)."""
    B, Lmax = tokens.shape
    p = rng.integers(0, lengths)
    new, noise = rng.integers(0, n_symbols, size=B), rng.integers(0, n_symbols, size=(B, Lmax))
    if fast:
        return (*corrupt_numba.ngram_fill(np.ascontiguousarray(tokens), np.ascontiguousarray(lengths, np.int64), n,
                                          n_vars, p, new, noise), p)
    rows = np.arange(B)
    base = tokens.copy()
    base[rows, p] = new
    t = np.arange(Lmax)[None, :]
    keep = np.abs(t - p[:, None]) <= n - 1
    source = np.where(keep, tokens, noise)
    valid = t < lengths[:, None]
    base, source = np.where(valid, base, 0), np.where(valid, source, 0)
    j = np.arange(n_vars)[None, :]
    m = ((j <= p[:, None]) & (j >= p[:, None] - n + 1)).astype(np.float64)
    return base, source, m, p


def single_token(tokens, lengths, n_symbols: int, rng):
    """The onion intervention's input: p ~ U{0..L−1}, x_new ~ U{0..C−1}; x̃ = x with x[p] := x_new.

    Returns (x̃ [B, Lmax], p [B], x_orig [B], x_new [B])."""
    B = len(lengths)
    p = rng.integers(0, lengths)
    rows = np.arange(B)
    x_new = rng.integers(0, n_symbols, size=B)
    x_orig = tokens[rows, p].copy()
    out = tokens.copy()
    out[rows, p] = x_new
    return out, p, x_orig, x_new


def swapped_queries(m, lengths, rng):
    """lookup under the unigram intervention: the position each sequence is asked for, uniform among its swapped
    positions (m [B, V] = 1), so the answer needs the moved variable; a sequence with none swapped (chance 2^−L) is
    asked a uniform position 0..L−1. Draws u [B] then the fallback [B], after unigram_pairs' draws. Returns [B]."""
    u = rng.random(len(lengths))
    fallback = rng.integers(0, lengths)
    count = m.sum(axis=1)
    k = np.floor(u * count)                                  # the k-th swapped position (0-based)
    pick = np.argmax(np.cumsum(m, axis=1) > k[:, None], axis=1)
    return np.where(count > 0, pick, fallback).astype(np.int64)


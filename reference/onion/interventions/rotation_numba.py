"""rotation.py's matrix_exp rotation, R = base · expm(tril(X) − tril(X)ᵀ), and its gradient as two Numba kernels.

The numba backend's path, tested against rotation.py + expm.py (the reference, whose docstrings hold the equations).
The same arithmetic in X's precision: the degree and squarings of expm.forward(A, skew=True) (β = min(‖A‖₁,
‖A²ᵏ‖₁^{1/2k}) against expm.table(X.dtype)), the Padé polynomials from expm.COEF, the products through BLAS
(np.dot), (V − U)⁻¹ from LAPACK (np.linalg.inv: getrf + getri). What differs is the glue: the skew part of X, the
norms, the identity, every linear combination of powers, the transposes and tril(dA − dAᵀ) are loops in the kernels,
so two calls replace the ~70 NumPy calls that made the rotation's time at small H. Inside an analysis step, after the
GRU kernels have filled the caches, those calls cost 300 µs at H = 48 where the arithmetic is ~60. Sums of powers run
in another order than expm._combine's GEMM: the results agree with the reference to rounding.
"""
from __future__ import annotations

import functools
import sys

import numpy as np
from numba import njit

from ...cells.gru_numba_kernels import JIT
from ...jit.cache import drop_stale_cache
from . import expm

DEGREES = np.array([m for m, _ in expm.ELL], np.int64)
NEEDS = np.array([expm.NEEDS.get(m, 3) for m in DEGREES], np.int64)     # the highest A²ᵏ each degree uses
COEF = np.zeros((len(DEGREES), 4, 5))                 # expm.COEF[m], zero-padded: [degree index, row, power]
for _i, _m in enumerate(DEGREES):
    COEF[_i, :expm.COEF[_m].shape[0], :expm.COEF[_m].shape[1]] = expm.COEF[_m]


@functools.lru_cache(maxsize=4)
def _tables(dtype) -> tuple:
    """(ℓ_m of the precision, expm.COEF in it)."""
    return np.array([ell for _, ell in expm.table(dtype)]), COEF.astype(dtype)


def forward(X, base):
    """X [H, H] float32 or float64, base [H, H] → (R [H, H] in X's dtype, cache)."""
    X = np.ascontiguousarray(X)
    base = np.ascontiguousarray(base, X.dtype)
    R, pieces = rotation_forward(X, base, *_tables(X.dtype), NEEDS, DEGREES)
    return R, (pieces, base)


def backward(dR, cache):
    """dℓ/dR [H, H] → dℓ/dX [H, H] in X's dtype."""
    pieces, base = cache
    return rotation_backward(np.ascontiguousarray(dR, base.dtype), base, *pieces)


@njit(**JIT)
def _norm1(M):
    """max_j Σ_i |M[i, j]|."""
    best = 0.0
    for j in range(M.shape[1]):
        acc = 0.0
        for i in range(M.shape[0]):
            acc += abs(M[i, j])
        if acc != acc:                                # NaN
            return acc
        best = max(best, acc)
    return best


@njit(**JIT)
def _powers(A, P, k):
    """P[1..k] = A², A⁴, A⁶ (A⁴A²), A⁸ (A⁴A⁴) as far as k."""
    np.dot(A, A, P[1])
    if k >= 2:
        np.dot(P[1], P[1], P[2])
    if k >= 3:
        np.dot(P[2], P[1], P[3])
    if k >= 4:
        np.dot(P[2], P[2], P[4])


@njit(**JIT)
def _squarings(beta, ell):
    """(degree index, s) for a norm bound beta: the smallest m with beta ≤ ℓ_m, else m = 13 and s squarings."""
    last = len(ell) - 1
    for q in range(last):
        if beta <= ell[q]:
            return q, 0
    return last, max(0, int(np.ceil(np.log2(beta / ell[last]))))


@njit(**JIT)
def _combine(C, P, k):
    """[len(C), n, n]: row i is Σ_{j ≤ k} C[i, j] P[j] (expm._combine as loops)."""
    n = P.shape[1]
    out = np.zeros((C.shape[0], n, n), P.dtype)
    for r in range(C.shape[0]):
        for q in range(k + 1):
            a = C[r, q]
            if a != 0:
                for i in range(n):
                    for j in range(n):
                        out[r, i, j] += a * P[q, i, j]
    return out


@njit(**JIT)
def rotation_forward(X, base, ell, coef, needs, degrees):
    """(R = base · e^A in X's dtype, the pieces the backward reuses); A = tril(X) − tril(X)ᵀ."""
    n = X.shape[0]
    A = np.zeros_like(X)
    for i in range(n):
        for j in range(i):
            A[i, j] = X[i, j]
            A[j, i] = -X[i, j]
    beta = _norm1(A)
    if not np.isfinite(beta):
        raise ValueError("expm: the matrix is not finite")
    P = np.zeros((5, n, n), X.dtype)                  # I, A², A⁴, A⁶, A⁸
    for i in range(n):
        P[0, i, i] = 1.0
    t, s, fallback = -1, 0, False
    for k in range(1, 5):                             # expm._skew_powers: the powers of the unscaled A
        if k == 1:
            np.dot(A, A, P[1])
        elif k == 2:
            np.dot(P[1], P[1], P[2])
        elif k == 3:
            np.dot(P[2], P[1], P[3])
        else:
            np.dot(P[2], P[2], P[4])
        root = _norm1(P[k]) ** (0.5 / k)
        if not np.isfinite(root):
            fallback = True
            break
        beta = min(beta, root)
        q, _ = _squarings(beta, ell)
        if q < len(ell) - 1 and needs[q] <= k:
            t = q
            break
        if k == 3 and q == len(ell) - 1:              # m = 13 does not use A⁸
            break
    if fallback:                                      # a power overflowed: the ‖A‖₁ path, powers of the scaled A
        t, s = _squarings(_norm1(A), ell)
        A *= 2.0 ** -s
        _powers(A, P, 3 if t == len(ell) - 1 else degrees[t] // 2)
    elif t < 0:
        t, s = _squarings(beta, ell)
        if s > 0:                                     # powers of two: the same bits as powers of the scaled A
            A *= 2.0 ** -s
            for k in range(1, 4):
                P[k] *= 2.0 ** (-2 * s * k)
    m = degrees[t]
    k = 3 if m == 13 else m // 2
    c = coef[t, :4 if m == 13 else 2]
    Y = _combine(c, P, k)                             # (W, V) or (W₁, Z₁, W₂, Z₂)
    if m == 13:
        W, V = np.dot(P[3], Y[0]) + Y[2], np.dot(P[3], Y[1]) + Y[3]
    else:
        W, V = Y[0].copy(), Y[1].copy()
    U = np.dot(A, W)
    Qi = np.ascontiguousarray(np.linalg.inv(V - U))
    R0 = np.dot(Qi, V + U)
    squares = np.empty((s, n, n), X.dtype)
    R = R0
    for q in range(s):
        squares[q] = R
        R = np.dot(R, R)
    return np.dot(base, R), (A, m, s, k, c.copy(), P, W, Y, Qi, R0, squares)


@njit(**JIT)
def _xy_plus_yx(X, Y):
    out = np.dot(X, Y)
    out += np.dot(Y, X)
    return out


@njit(**JIT)
def rotation_backward(dR, base, A, m, s, k, c, P, W, WZ, Qi, R0, squares):
    """dℓ/dX = tril(dA − dAᵀ), dA = L(A, Gᵀ)ᵀ, G = baseᵀ dℓ/dR (expm.frechet's recurrences)."""
    n = A.shape[0]
    G = np.dot(base.T, dR)
    E = np.empty_like(G)                              # Gᵀ / 2ˢ
    f = 2.0 ** -s
    for i in range(n):
        for j in range(n):
            E[i, j] = G[j, i] * f
    Ms = np.empty((k + 1, n, n), A.dtype)             # M₂, M₄, M₆, M₈ in rows 1..k (row 0: the identity's column,
    Ms[0] = 0.0                                       # whose derivative is 0, skipped by a zero coefficient)
    Ms[1] = _xy_plus_yx(A, E)
    if k >= 2:
        Ms[2] = _xy_plus_yx(P[1], Ms[1])
    if k >= 3:
        Ms[3] = np.dot(P[2], Ms[1]) + np.dot(Ms[2], P[1])
    if k >= 4:
        Ms[4] = _xy_plus_yx(P[2], Ms[2])
    c[:, 0] = 0.0
    Y = _combine(c, Ms, k)
    if m == 13:                                       # (L_W₁, L_Z₁, L_W₂, L_Z₂)
        Lw = np.dot(P[3], Y[0]) + np.dot(Ms[3], WZ[0]) + Y[2]
        Lv = np.dot(P[3], Y[1]) + np.dot(Ms[3], WZ[1]) + Y[3]
    else:                                             # (L_W, L_V)
        Lw, Lv = Y[0].copy(), Y[1].copy()
    Lu = np.dot(A, Lw) + np.dot(E, W)
    L = np.dot(Qi, Lu + Lv + np.dot(Lu - Lv, R0))
    for q in range(squares.shape[0]):
        L = np.dot(squares[q], L) + np.dot(L, squares[q])
    dX = np.zeros_like(A)                             # dA = Lᵀ: dX[i, j] = L[j, i] − L[i, j] for j < i
    for i in range(n):
        for j in range(i):
            dX[i, j] = L[j, i] - L[i, j]
    return dX


drop_stale_cache([sys.modules[__name__]])

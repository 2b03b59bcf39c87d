"""rotation.py's matrix_exp rotation, R = base · expm(tril(X) − tril(X)ᵀ), and its gradient as two Numba kernels.

The numba backend's path, tested against rotation.py + expm.py (the reference; the equations are in their
docstrings). The same float64 arithmetic: degree and squarings from expm.ELL, the Padé polynomials from
expm.COEF, the same products through the same BLAS dgemm (`np.dot`). What differs is the glue: the skew part of X,
the 1-norm, every linear combination of powers and the final tril(dA − dAᵀ) are loops inside the kernel, so one
call replaces the ~60 NumPy calls whose overhead was half of the rotation's time at H = 48; and the backward's
solve with V − U refactors it (`np.linalg.solve`; Numba has no LU-factor-and-solve pair). Results agree with
the reference to rounding (the order of some sums differs).
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit

from ...cells.gru_numba_kernels import JIT
from ...jit.cache import drop_stale_cache
from . import expm

DEGREES = np.array([m for m, _ in expm.ELL], np.int64)
ELL = np.array([ell for _, ell in expm.ELL])
COEF = np.zeros((len(DEGREES), 4, 5))                 # expm.COEF[m], zero-padded: [degree index, row, power]
for _i, _m in enumerate(DEGREES):
    COEF[_i, :expm.COEF[_m].shape[0], :expm.COEF[_m].shape[1]] = expm.COEF[_m]


def forward(X, base):
    """X [H, H] (float32 or float64), base [H, H] float64 → (R [H, H] in X's dtype, cache)."""
    if not np.isfinite(X).all():
        raise ValueError("expm: the matrix is not finite")
    R, cache = rotation_forward(np.ascontiguousarray(X), base, DEGREES, ELL, COEF)
    return R, (cache, np.ascontiguousarray(base.T))


def backward(dR, cache):
    """dℓ/dR [H, H] → dℓ/dX [H, H] in dR's dtype."""
    pieces, base_t = cache
    return rotation_backward(np.ascontiguousarray(dR), base_t, *pieces)


@njit(**JIT)
def rotation_forward(X, base, degrees, ell, coef):
    """(R = base · e^A in X's dtype, the pieces the backward reuses); A = tril(X) − tril(X)ᵀ."""
    n = X.shape[0]
    A = np.zeros((n, n))
    for i in range(n):
        for j in range(i):
            A[i, j] = X[i, j]
            A[j, i] = -X[i, j]
    norm1 = 0.0
    for j in range(n):
        norm1 = max(norm1, np.abs(A[:, j]).sum())
    t, s = len(degrees) - 1, 0
    for q in range(len(degrees) - 1):
        if norm1 <= ell[q]:
            t = q
            break
    if t == len(degrees) - 1 and norm1 > ell[t]:
        s = int(np.ceil(np.log2(norm1 / ell[t])))
        A *= 2.0 ** -s
    m, c = degrees[t], coef[t]
    k = 3 if m == 13 else m // 2
    P = np.empty((k + 1, n, n))                        # I, A², A⁴, A⁶ = A⁴A², A⁸ = A⁴A⁴
    P[0] = np.eye(n)
    np.dot(A, A, P[1])
    if k >= 2:
        np.dot(P[1], P[1], P[2])
    if k >= 3:
        np.dot(P[2], P[1], P[3])
    if k >= 4:
        np.dot(P[2], P[2], P[4])
    rows = 4 if m == 13 else 2
    Y = _combine(c[:rows, :k + 1], P)                  # (W, V) or (W₁, Z₁, W₂, Z₂)
    if m == 13:
        W, V = np.dot(P[3], Y[0]) + Y[2], np.dot(P[3], Y[1]) + Y[3]
    else:
        W, V = Y[0].copy(), Y[1].copy()
    U = np.dot(A, W)
    Q = V - U
    R = np.ascontiguousarray(np.linalg.solve(Q, V + U))   # LAPACK returns Fortran order
    R0 = R
    squares = np.empty((s, n, n))
    for q in range(s):
        squares[q] = R
        R = np.dot(R, R)
    return np.dot(base, R).astype(X.dtype), (A, m, s, c[:rows, 1:k + 1].copy(), P, W, Y[:2].copy(), Q, R0, squares)


@njit(**JIT)
def _combine(C, P):
    """[len(C), n, n]: row i is Σⱼ C[i, j] P[j] (expm._combine as one loop)."""
    n = P.shape[1]
    out = np.zeros((C.shape[0], n, n))
    for r in range(C.shape[0]):
        for q in range(C.shape[1]):
            a = C[r, q]
            for i in range(n):
                for j in range(n):
                    out[r, i, j] += a * P[q, i, j]
    return out


@njit(**JIT)
def _xy_plus_yx(X, Y):
    out = np.dot(X, Y)
    out += np.dot(Y, X)
    return out


@njit(**JIT)
def rotation_backward(dR, base_t, A, m, s, c, P, W, WZ, Q, R0, squares):
    """dℓ/dX = tril(dA − dAᵀ) in dR's dtype, dA = L(A, Gᵀ)ᵀ, G = baseᵀ dℓ/dR (expm.frechet's recurrences)."""
    n = A.shape[0]
    E = np.dot(base_t, dR.astype(np.float64)).T * 2.0 ** -s
    E = np.ascontiguousarray(E)
    k = P.shape[0] - 1
    Ms = np.empty((k, n, n))                           # M₂, M₄, M₆, M₈
    Ms[0] = _xy_plus_yx(A, E)
    if k >= 2:
        Ms[1] = _xy_plus_yx(P[1], Ms[0])
    if k >= 3:
        Ms[2] = np.dot(P[2], Ms[0]) + np.dot(Ms[1], P[1])
    if k >= 4:
        Ms[3] = _xy_plus_yx(P[2], Ms[1])
    Y = _combine(c, Ms)                                # (L_W, L_V) or (L_W₁, L_Z₁, L_W₂, L_Z₂)
    if m == 13:
        Lw = np.dot(P[3], Y[0]) + np.dot(Ms[2], WZ[0]) + Y[2]
        Lv = np.dot(P[3], Y[1]) + np.dot(Ms[2], WZ[1]) + Y[3]
    else:
        Lw, Lv = Y[0].copy(), Y[1].copy()
    Lu = np.dot(A, Lw) + np.dot(E, W)
    L = np.ascontiguousarray(np.linalg.solve(Q, Lu + Lv + np.dot(Lu - Lv, R0)))
    for q in range(squares.shape[0]):
        L = np.dot(squares[q], L) + np.dot(L, squares[q])
    dX = np.zeros((n, n), dR.dtype)                    # dA = Lᵀ: dX[i, j] = L[j, i] − L[i, j] for j < i
    for i in range(n):
        for j in range(i):
            dX[i, j] = L[j, i] - L[i, j]
    return dX


drop_stale_cache([sys.modules[__name__]])

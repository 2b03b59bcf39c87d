"""The learned orthogonal rotation of the linear interventions, as torch's `parametrizations.orthogonal`.

torch (square matrix, default `matrix_exp` map, use_trivialization=True) keeps an unconstrained X [H, H] and a
fixed orthogonal `base` [H, H]:
    A = tril(X) − tril(X)ᵀ          (skew-symmetric; the diagonal of X cancels)
    R = base · expm(A)
At registration base = the sign-corrected QR factor of the layer's initial weight and X = −I, so R starts at base.
We keep the matrix exponential (not the cheaper Cayley map) because it is what the paper's code trains, so the
optimisation path is the same. expm and the exact gradient come from expm.py (scaling and squaring Padé, with the
squarings A's 2-norm needs), in X's precision as torch computes a parametrisation in its parameter's: float32 in runs,
float64 in the gradient checks and golden tests (the numba backend runs the same in rotation_numba.py's kernels):
    G = baseᵀ · dℓ/dR,   dℓ/dA = L_expm(Aᵀ, G)   (the adjoint of L_expm(A, ·) is L_expm(Aᵀ, ·)),
    dℓ/dX = tril(dℓ/dA − dℓ/dAᵀ),
the backward reusing the forward's powers of A, (V − U)⁻¹ and squarings.
The rotation maps a state h [B, H] (rows) to s = h Rᵀ (i.e. s = R h per column vector, torch's Linear), back by s R.

Option (orthogonal_map="cayley", torch's `orthogonal_map="cayley"`): R = base · C, C = (I − A/2)⁻¹(I + A/2), one
linear solve instead of a Padé approximant and its squarings (the same init: A = 0, R = base). With S = I − A/2
and G = baseᵀ dℓ/dR,
    dℓ/dA = ½ S⁻ᵀ G (I + Cᵀ)        (C = S⁻¹P with P = I + A/2: dℓ/dP = S⁻ᵀG, dℓ/dS = −S⁻ᵀ G Cᵀ)
A different map is a different optimisation path: not the paper's, so it is not the default.
"""
from __future__ import annotations

import functools

import numpy as np

from . import expm, rotation_numba


def init(hidden: int, rng: np.random.Generator, dtype=np.float64) -> tuple[dict, np.ndarray]:
    """(params {"X": [H, H]}, base [H, H]): base from the QR of a kaiming-uniform Linear(H, H) weight."""
    k = 1.0 / np.sqrt(hidden)
    w0 = rng.uniform(-k, k, size=(hidden, hidden))
    q, r = np.linalg.qr(w0)
    base = q * np.sign(np.diag(r))[None, :]
    return {"X": -np.eye(hidden, dtype=dtype)}, base.astype(dtype)


def skew(X):
    L = X * _lower(len(X), X.dtype)  # tril(X); np.tril builds its mask on every call
    return L - L.T


@functools.lru_cache(maxsize=16)
def _lower(n: int, dtype) -> np.ndarray:
    """The lower triangle (diagonal included) of an n × n matrix of ones (read-only)."""
    m = np.tril(np.ones((n, n), dtype))
    m.flags.writeable = False
    return m


MAPS = ("matrix_exp", "cayley")


def forward(X, base, orthogonal_map: str = "matrix_exp", fast: bool = False):
    """R [H, H] = base · expm(tril(X) − tril(X)ᵀ) (or base · cayley(·)). Returns (R, cache).
    fast: matrix_exp on the kernels of rotation_numba.py (the numba backend), else expm.py."""
    if fast and orthogonal_map == "matrix_exp":
        R, c = rotation_numba.forward(X, base)
        return R, ("matrix_exp_numba", c)
    A = skew(X)
    base = base.astype(X.dtype, copy=False)
    if orthogonal_map == "cayley":
        S = np.eye(len(A), dtype=A.dtype) - 0.5 * A
        C = np.linalg.solve(S, np.eye(len(A), dtype=A.dtype) + 0.5 * A)
        return base @ C, ("cayley", S, C, base)
    if orthogonal_map != "matrix_exp":
        raise ValueError(f"orthogonal_map must be one of {', '.join(MAPS)}, got {orthogonal_map!r}")
    E, c = expm.forward(A, skew=True)
    return base @ E, ("matrix_exp", c, base)


def backward(dR, cache):
    """dℓ/dR [H, H] → dℓ/dX [H, H]."""
    if cache[0] == "matrix_exp_numba":
        return rotation_numba.backward(dR, cache[1])
    G = cache[-1].T @ dR.astype(cache[-1].dtype, copy=False)  # baseᵀ dℓ/dR
    if cache[0] == "cayley":
        _, S, C, _ = cache
        dA = 0.5 * np.linalg.solve(S.T, G @ (np.eye(len(C), dtype=C.dtype) + C.T))
    else:
        dA = expm.backward(G, cache[1])
    return (dA - dA.T) * _lower(len(dA), dA.dtype)  # tril(dA − dAᵀ)

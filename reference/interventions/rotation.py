"""The learned orthogonal rotation of the linear interventions, as torch's `parametrizations.orthogonal`.

torch (square matrix, default `matrix_exp` map, use_trivialization=True) keeps an unconstrained X [H, H] and a
fixed orthogonal `base` [H, H]:
    A = tril(X) − tril(X)ᵀ          (skew-symmetric; the diagonal of X cancels)
    R = base · expm(A)
At registration base = the sign-corrected QR factor of the layer's initial weight and X = −I, so R starts at base.
We keep the matrix exponential (not the cheaper Cayley map) because it is what the paper's code trains, so the
optimisation path is the same. Its exact gradient uses the Fréchet derivative of expm: for a loss ℓ(R),
    G = baseᵀ · dℓ/dR,   dℓ/dA = L_expm(Aᵀ, G)   (the adjoint of L_expm(A, ·) is L_expm(Aᵀ, ·)),
    dℓ/dX = tril(dℓ/dA − dℓ/dAᵀ).
The rotation maps a state h [B, H] (rows) to s = h Rᵀ (i.e. s = R h per column vector, torch's Linear), back by s R.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import expm, expm_frechet


def init(hidden: int, rng: np.random.Generator, dtype=np.float64) -> tuple[dict, np.ndarray]:
    """(params {"X": [H, H]}, base [H, H]): base from the QR of a kaiming-uniform Linear(H, H) weight."""
    k = 1.0 / np.sqrt(hidden)
    w0 = rng.uniform(-k, k, size=(hidden, hidden))
    q, r = np.linalg.qr(w0)
    base = q * np.sign(np.diag(r))[None, :]
    return {"X": -np.eye(hidden, dtype=dtype)}, base.astype(dtype)


def skew(X):
    L = np.tril(X)
    return L - L.T


def forward(X, base):
    """R [H, H] = base · expm(tril(X) − tril(X)ᵀ). Returns (R, cache)."""
    A = skew(X.astype(np.float64))
    return (base @ expm(A)).astype(X.dtype), (A, base)


def backward(dR, cache):
    """dℓ/dR [H, H] → dℓ/dX [H, H]."""
    A, base = cache
    G = base.T @ dR.astype(np.float64)
    dA = expm_frechet(A.T, G, compute_expm=False)
    return np.tril(dA - dA.T).astype(dR.dtype)

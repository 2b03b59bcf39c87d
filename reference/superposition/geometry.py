"""What a trained delayed-recall model's weights say (spec B3–B4).

    W_s = W_h^s W_x                      the direction(s) of an input s steps ago (exact for linear recurrence)
    R_s = W_h σ_h(R_{s−1}), R_0 = W_x     the ReLU RNN's response to one isolated unit event (exact in the sparse
                                         regime, since ReLU is positively homogeneous); R_s = W_s when σ_h = id
    A_s = W_yᵀ W_s  [N_x, N_x]            the readout's projections; a_s = w_yᵀ w_s when N_x = 1
    kθ  = Σ_{s=1..k} wrap(∠w_s − ∠w_{s−1}) in degrees (N_h = 2, N_x = 1): the signed rotation from w_0 to w_k
    ρ   = max_i |λ_i(W_h)|
    features kept: diag(A_k) > 0.5
    feature dimensionality (TMS) of the columns W_i of a matrix: D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)²
Everything takes one model (no leading seed axis).
"""
from __future__ import annotations

import numpy as np


def directions(W_x: np.ndarray, W_h: np.ndarray, k: int) -> np.ndarray:
    """W_s for s = 0..k: [k+1, N_h, N_x]."""
    out = [W_x]
    for _ in range(k):
        out.append(W_h @ out[-1])
    return np.stack(out)


def impulse_response(W_x: np.ndarray, W_h: np.ndarray, k: int, relu_h: bool) -> np.ndarray:
    """R_s for s = 0..k: [k+1, N_h, N_x], column j the state s steps after a unit event of feature j alone."""
    out = [W_x]
    for _ in range(k):
        out.append(W_h @ (np.maximum(out[-1], 0) if relu_h else out[-1]))
    return np.stack(out)


def projections(W_y: np.ndarray, W_x: np.ndarray, W_h: np.ndarray, k: int) -> np.ndarray:
    """A_s = W_yᵀ W_s for s = 0..k: [k+1, N_x, N_x]."""
    return np.einsum("hi,shj->sij", W_y, directions(W_x, W_h, k))


def k_theta_deg(W_x: np.ndarray, W_h: np.ndarray, k: int) -> float | None:
    """The accumulated signed rotation (degrees) from w_0 to w_k, each increment wrapped to (−180°, 180°];
    None unless N_h = 2 and N_x = 1."""
    if W_x.shape != (2, 1):
        return None
    w = directions(W_x, W_h, k)[:, :, 0]
    ang = np.arctan2(w[:, 1], w[:, 0])
    inc = np.angle(np.exp(1j * np.diff(ang)))
    return float(np.degrees(inc.sum()))


def to_positive_degrees(theta: float) -> float:
    """kθ taken to [0°, 360°): a rotation of −90° is the same end geometry as 270°."""
    return float(theta % 360.0)


def spectral_radius(W_h: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(W_h))))


def eigenvalues(W_h: np.ndarray) -> list:
    """[[re, im], ...] sorted by modulus, largest first."""
    lam = np.linalg.eigvals(W_h)
    lam = lam[np.argsort(-np.abs(lam), kind="stable")]
    return [[float(z.real), float(z.imag)] for z in lam]


def features_kept(A_k: np.ndarray, threshold: float = 0.5) -> list:
    """Indices i with A_k[i, i] > threshold (feature i is recalled after k steps)."""
    return [int(i) for i in np.flatnonzero(np.diag(A_k) > threshold)]


def feature_dimensionality(W: np.ndarray) -> np.ndarray:
    """D_i [N_x] for the columns W_i of W [N_h, N_x] (0 for a zero column)."""
    norms = np.linalg.norm(W, axis=0)
    unit = W / np.where(norms > 0, norms, 1.0)
    overlap = (unit.T @ W) ** 2                      # [i, j] = (Ŵ_i · W_j)²
    return np.where(norms > 0, norms ** 2 / np.maximum(overlap.sum(1), 1e-300), 0.0)

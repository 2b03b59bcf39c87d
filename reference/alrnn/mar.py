"""Manifold-attractor regularisation (MAR; Schmidt et al. 2021), spec A2, with its gradient.

On the first M_reg units (the linear units come first), it pulls each unit toward a perfect integrator
(self-coupling 1, no input from other units, no bias), i.e. a line attractor:

    L_MAR = τ · Σ_{i < M_reg} [ (Ã_ii − 1)² + Σ_{j ≠ i} W_ij² + h_i² ],   Ã_ii = W_ii (+ A_{i−(M−P)} for a ReLU unit)

    ∂L/∂W_ii = 2τ (Ã_ii − 1),  ∂L/∂W_ij = 2τ W_ij (j ≠ i),  ∂L/∂h_i = 2τ h_i,  ∂L/∂A_k = 2τ (Ã_ii − 1) for i = M−P+k
"""
from __future__ import annotations

import numpy as np


def mar_forward(p: dict, tau: float, n_reg: int):
    """p: cell parameters (A [P], W [M, M], h [M]). Returns (loss, cache)."""
    W, h, A = p["W"], p["h"], p["A"]
    M, P = W.shape[0], A.shape[0]
    r = np.arange(n_reg)
    self_c = W[r, r].copy()
    relu = r >= M - P
    self_c[relu] += A[r[relu] - (M - P)]
    off = W[:n_reg].copy()
    off[r, r] = 0
    loss = tau * float(np.sum((self_c - 1) ** 2) + np.sum(off * off) + np.sum(h[:n_reg] ** 2))
    return loss, (p, tau, n_reg, self_c, off)


def mar_backward(dloss: float, cache) -> dict:
    """dloss (the loss's weight, 1 for the plain sum) → gradients for W, h, A."""
    p, tau, n_reg, self_c, off = cache
    M, P = p["W"].shape[0], p["A"].shape[0]
    r = np.arange(n_reg)
    k = 2.0 * tau * dloss
    gW = np.zeros_like(p["W"])
    gW[:n_reg] = k * off
    gW[r, r] = k * (self_c - 1)
    gh = np.zeros_like(p["h"])
    gh[:n_reg] = k * p["h"][:n_reg]
    gA = np.zeros_like(p["A"])
    relu = r >= M - P
    gA[r[relu] - (M - P)] = k * (self_c[relu] - 1)
    return {"W": gW, "h": gh, "A": gA}

"""The matrix power P = A^k with its gradient: the tied readout W_y = W_h^k W_x lets the loss flow through A^k.

    forward:   P = A^k  (k ≥ 0; A^0 = I),  A [..., n, n]
    backward:  ∂L/∂A = Σ_{j=0}^{k−1} (A^j)ᵀ (∂L/∂P) (A^{k−1−j})ᵀ
"""
from __future__ import annotations

import numpy as np


def matrix_power_forward(A, k: int):
    """(P = A^k [..., n, n], cache holding A^0..A^k)."""
    powers = [np.broadcast_to(np.eye(A.shape[-1]), A.shape).copy()]
    for _ in range(k):
        powers.append(powers[-1] @ A)
    return powers[-1], (powers, k)


def matrix_power_backward(dP, cache):
    """∂L/∂A [..., n, n] from ∂L/∂P."""
    powers, k = cache
    dA = np.zeros(dP.shape)
    for j in range(k):
        dA += np.swapaxes(powers[j], -1, -2) @ dP @ np.swapaxes(powers[k - 1 - j], -1, -2)
    return dA

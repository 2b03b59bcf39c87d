"""The three recurrent models of the temporal-superposition paper (spec B2), forward and backward side by side.

    h_t = W_x x_t + W_h σ_h(h_{t−1}),  h_0 = 0            (recurrence)
    ŷ_t = σ_y(W_yᵀ h_t + b)                                 (readout)

    linear RNN: σ_h = σ_y = id;   "SSM": σ_h = id, σ_y = ReLU;   ReLU RNN: σ_h = σ_y = ReLU.

Shapes (any leading axes "..." are independent models, e.g. seeds trained side by side):
    x [..., T, B, N_x]   W_x [..., N_h, N_x]   W_h [..., N_h, N_h]   W_y [..., N_h, N_x]   b [..., N_x]
    h [..., T, B, N_h]   ŷ [..., T, B, N_x]
In row form h_t = x_t W_xᵀ + σ_h(h_{t−1}) W_hᵀ and ŷ_t = σ_y(h_t W_y + b).
"""
from __future__ import annotations

import numpy as np

from ..layers import relu_backward, relu_forward


def _T(a):
    return np.swapaxes(a, -1, -2)


def _outer_sum(a, b):
    """Σ over time and batch of a_tb ⊗ b_tb: a [..., T, B, I], b [..., T, B, J] → [..., I, J] (one matmul)."""
    a2 = a.reshape(a.shape[:-3] + (-1, a.shape[-1]))
    b2 = b.reshape(b.shape[:-3] + (-1, b.shape[-1]))
    return _T(a2) @ b2


def rnn_forward(x, W_x, W_h, relu_h: bool):
    """h [..., T, B, N_h] of h_t = W_x x_t + W_h σ_h(h_{t−1}); σ_h = ReLU if relu_h else identity."""
    u = x @ _T(W_x)[..., None, :, :]
    h = np.empty(u.shape)
    W_hT = _T(W_h)
    prev = np.zeros(u[..., 0, :, :].shape)
    for t in range(u.shape[-3]):
        h[..., t, :, :] = u[..., t, :, :] + prev @ W_hT
        prev = np.maximum(h[..., t, :, :], 0) if relu_h else h[..., t, :, :]
    return h, (x, W_x, W_h, h, relu_h)


def rnn_backward(dh, cache):
    """dh [..., T, B, N_h] (∂L/∂h_t from outside the recurrence) → {"W_x", "W_h"} gradients.

    g_t = dh_t + σ_h'(h_t) ⊙ (g_{t+1} W_h)   (g = ∂L/∂h_t in total);  ∂W_x = Σ g_t x_tᵀ,  ∂W_h = Σ g_t σ_h(h_{t−1})ᵀ."""
    x, W_x, W_h, h, relu_h = cache
    T = h.shape[-3]
    g = np.empty(h.shape)
    carry = np.zeros(h[..., 0, :, :].shape)
    for t in range(T - 1, -1, -1):
        g[..., t, :, :] = dh[..., t, :, :] + carry
        carry = g[..., t, :, :] @ W_h
        if relu_h and t > 0:
            carry = carry * (h[..., t - 1, :, :] > 0)
    s = np.maximum(h, 0) if relu_h else h
    dW_h = _outer_sum(g[..., 1:, :, :], s[..., :T - 1, :, :])
    return {"W_x": _outer_sum(g, x), "W_h": dW_h}


def readout_forward(h, W_y, b, relu_y: bool):
    """ŷ [..., T, B, N_x] = σ_y(h W_y + b); b may be None (no output bias)."""
    z = h @ W_y[..., None, :, :]
    if b is not None:
        z = z + b[..., None, None, :]
    if relu_y:
        y, mask = relu_forward(z)
        return y, (h, W_y, b is not None, mask)
    return z, (h, W_y, b is not None, None)


def readout_backward(dy, cache):
    """dy [..., T, B, N_x] → (dh [..., T, B, N_h], dW_y [..., N_h, N_x], db [..., N_x] or None)."""
    h, W_y, has_b, mask = cache
    dz = relu_backward(dy, mask) if mask is not None else dy
    dh = dz @ _T(W_y)[..., None, :, :]
    db = dz.sum(axis=(-3, -2)) if has_b else None
    return dh, _outer_sum(h, dz), db

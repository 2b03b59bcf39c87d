"""Small layers the probes need, forward and backward side by side (torch names and inits).

    linear:     y = x Wᵀ + b          W [O, I], b [O];  init U(−1/√I, 1/√I) (torch's nn.Linear)
    relu:       y = max(x, 0)
    layer_norm: y = (x − μ) / √(σ² + ε) ⊙ w + b over the last axis, ε = 1e−5; init w = 1, b = 0
    embedding:  y = E[ids]            dE = onehot(ids)ᵀ dy
"""
from __future__ import annotations

import numpy as np


def linear_init(prefix: str, n_in: int, n_out: int, rng, dtype=np.float32) -> dict:
    k = 1.0 / np.sqrt(n_in)
    return {prefix + "weight": rng.uniform(-k, k, (n_out, n_in)).astype(dtype),
            prefix + "bias": rng.uniform(-k, k, n_out).astype(dtype)}


def linear_forward(x, W, b):
    """x [..., I] → (y [..., O], cache)."""
    return x @ W.T + b, (x, W)


def linear_backward(dy, cache):
    """dy [..., O] → (dx [..., I], dW [O, I], db [O])."""
    x, W = cache
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    return dy @ W, dy2.T @ x2, dy2.sum(0)


def embedding_backward(ids, dy, n_rows: int):
    """The gradient of a table lookup y = E[ids]: dE [n_rows, D] = Σ_i onehot(ids_i)ᵀ dy_i, as one GEMM.

    ids [...] ints, dy [..., D]. (np.add.at sums the same rows one by one, about 10× slower at B = 256.)"""
    ids = np.asarray(ids).reshape(-1)
    onehot = np.zeros((ids.size, n_rows), dy.dtype)
    onehot[np.arange(ids.size), ids] = 1
    return onehot.T @ dy.reshape(ids.size, -1)


def relu_forward(x):
    return np.maximum(x, 0), x > 0


def relu_backward(dy, cache):
    return dy * cache


def layer_norm_init(prefix: str, n: int, dtype=np.float32) -> dict:
    return {prefix + "weight": np.ones(n, dtype), prefix + "bias": np.zeros(n, dtype)}


def layer_norm_forward(x, w, b, eps: float = 1e-5):
    """x [..., N] → (y, cache)."""
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    inv = 1.0 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    xhat = xc * inv
    return xhat * w + b, (xhat, inv, w)


def layer_norm_backward(dy, cache):
    """dy [..., N] → (dx, dw [N], db [N])."""
    xhat, inv, w = cache
    dxhat = dy * w
    dx = inv * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    red = tuple(range(dy.ndim - 1))
    return dx, (dy * xhat).sum(red), dy.sum(red)

"""Straight-through hard Gumbel-softmax over the last axis (the per-channel variable assignment of spec §4.2).

Forward:  y = softmax((M + g) / τ),  g = −log(−log u),  u ~ U(1e−10, 1 − 1e−10)
          A = one_hot(argmax y)                      (what the forward pass uses)
Backward: dM = softmax_backward(dA) / τ               (the straight-through estimator: A − sg(y) + y)
"""
from __future__ import annotations

import numpy as np


def sample_noise(shape, rng: np.random.Generator):
    u = rng.uniform(1e-10, 1.0 - 1e-10, size=shape)
    return -np.log(-np.log(u))


def one_hot_argmax(M):
    return (np.arange(M.shape[-1]) == M.argmax(-1)[..., None]).astype(M.dtype)


def forward(M, noise, tau: float = 1.0):
    """M [..., K] logits, noise like M. Returns (A one-hot [..., K], cache)."""
    z = (M + noise) / tau
    y = np.exp(z - z.max(-1, keepdims=True))
    y /= y.sum(-1, keepdims=True)
    return one_hot_argmax(y), (y, tau)


def backward(dA, cache):
    """dℓ/dA → dℓ/dM through the soft sample y (straight-through)."""
    y, tau = cache
    return y * (dA - (dA * y).sum(-1, keepdims=True)) / tau

"""The AL-RNN's readout at chosen steps and the two task losses, forward and backward side by side.

    readout:  y[r, b] = D z_{t_out[r, b]}[b]                      zs [T, B, M], t_out [R, B] → y [R, B, N]
    mse:      L = Σ_n w_n · mean_{r,b} (y[r,b,n] − y*[r,b,n])²    (w = 1 for one output: torch's MSELoss)
    ce:       L = mean_{r,b} −log softmax(y[r,b])[c*[r,b]]       (onion/seq2seq.cross_entropy)

Reading out at per-trial steps t_out lets a padded multi-task batch read each trial at its own last step.
"""
from __future__ import annotations

import numpy as np

from ..onion.seq2seq import cross_entropy


def readout_forward(zs, D, t_out):
    """zs [T, B, M], D [N, M], t_out [R, B] int → (y [R, B, N], cache)."""
    zr = zs[t_out, np.arange(zs.shape[1])[None, :]]     # [R, B, M]
    return zr @ D.T, (zr, D, t_out, zs.shape)


def readout_backward(dy, cache):
    """dy [R, B, N] → (dzs [T, B, M] (zero where nothing is read), dD [N, M])."""
    zr, D, t_out, shape = cache
    dzs = np.zeros(shape, dtype=dy.dtype)
    np.add.at(dzs, (t_out, np.arange(shape[1])[None, :]), dy @ D)
    return dzs, (dy.reshape(-1, dy.shape[-1]).T @ zr.reshape(-1, zr.shape[-1]))


def mse(y, target, weights):
    """Weighted MSE. y, target [R, B, N], weights [N] → (loss, dy)."""
    n = y.shape[0] * y.shape[1]
    err = y - target
    loss = float(np.sum(weights * np.sum(err * err, axis=(0, 1))) / n)
    return loss, (2.0 / n) * weights * err


def ce(y, labels):
    """Mean cross-entropy. y [R, B, C] logits, labels [R, B] int → (loss, dy)."""
    return cross_entropy(y, labels, np.ones(labels.shape, dtype=bool))


def task_loss(y, batch):
    """The batch's loss: MSE for float targets (batch.weights), cross-entropy for integer labels."""
    if batch.y.dtype.kind == "f":
        return mse(y, batch.y, batch.weights.astype(y.dtype))
    return ce(y, batch.y)

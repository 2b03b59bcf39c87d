"""The AL-RNN model on a set of trials: cell over time, readout, task loss, backward; NumPy or Numba cell.

    zs = AL-RNN(s; z_0 = 0),  y = D z_{t_out},  L = task loss(y)  (+ MAR, added by the training loop)
"""
from __future__ import annotations

import numpy as np

from ..cells import alrnn
from . import readout


def states(params: dict, trials, backend: str = "numba"):
    """zs [T, B, M]: the state after every step of every trial (z_0 = 0)."""
    if backend == "numba":
        from ..cells import alrnn_numba
        return alrnn_numba.forward(trials.s, params)
    z0 = np.zeros((trials.n, params["W"].shape[0]), dtype=trials.s.dtype)
    return alrnn.forward(trials.s, z0, params)[0]


def predict(params: dict, trials, backend: str = "numba"):
    """(zs [T, B, M], y [R, B, N]) for the trials."""
    zs = states(params, trials, backend)
    return zs, readout.readout_forward(zs, params["D"], trials.t_out)[0]


def loss_and_grads(params: dict, trials, backend: str = "numba"):
    """(loss, grads for every parameter, y) of the task loss on `trials`."""
    if backend == "numba":
        from ..cells import alrnn_numba
        zs = alrnn_numba.forward(trials.s, params)
    else:
        z0 = np.zeros((trials.n, params["W"].shape[0]), dtype=trials.s.dtype)
        zs, cache = alrnn.forward(trials.s, z0, params)
    y, rcache = readout.readout_forward(zs, params["D"], trials.t_out)
    loss, dy = readout.task_loss(y, trials)
    dzs, dD = readout.readout_backward(dy.astype(zs.dtype), rcache)
    if backend == "numba":
        grads = alrnn_numba.backward(dzs, zs, trials.s, params)
    else:
        grads = alrnn.backward(dzs, cache)[2]
    grads["D"] = dD
    return loss, grads, y

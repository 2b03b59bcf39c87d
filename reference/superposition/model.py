"""The delayed-recall model: a cell of cells/linear_rnn.py, its readout (tied W_y = W_h^k W_x or free), the loss.

Parameters (torch-style names, plain arrays; optional leading axes "..." hold independent models, e.g. seeds):
    weight_ih       W_x [..., N_h, N_x]
    weight_hh       W_h [..., N_h, N_h]
    readout.weight  W_yᵀ [..., N_x, N_h]    untied only (torch nn.Linear layout)
    readout.bias    b [..., N_x]            with an output bias only

Loss of one model (spec B1, Eq. 4, averaged over steps and sequences, weighted over features):
    L = (1 / T B) Σ_{t, b} Σ_i I_i (y_{t,b,i} − ŷ_{t,b,i})²
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cells import linear_rnn, matrix_power

MODELS = ("linear", "ssm", "relu")


@dataclass(frozen=True)
class ModelConfig:
    model: str = "linear"     # linear | ssm (ReLU readout) | relu (ReLU recurrence and readout)
    n_features: int = 1       # N_x
    hidden: int = 2           # N_h
    k: int = 3                # delay
    tied: bool = True         # W_y = W_h^k W_x (the paper's main setting)
    bias: bool = True         # output bias b

    @property
    def relu_h(self) -> bool:
        return self.model == "relu"

    @property
    def relu_y(self) -> bool:
        return self.model in ("ssm", "relu")


def init_params(cfg: ModelConfig, rng: np.random.Generator, lead: tuple = (), scale: float = 0.5) -> dict:
    """Every weight ~ N(0, scale²/N_h) (so ρ(W_h) starts near `scale`), bias 0; float64, leading shape `lead`."""
    n_h, n_x = cfg.hidden, cfg.n_features
    std = scale / np.sqrt(n_h)
    p = {"weight_ih": rng.normal(0, std, lead + (n_h, n_x)), "weight_hh": rng.normal(0, std, lead + (n_h, n_h))}
    if not cfg.tied:
        p["readout.weight"] = rng.normal(0, std, lead + (n_x, n_h))
    if cfg.bias:
        p["readout.bias"] = np.zeros(lead + (n_x,))
    return p


def readout_weight(params: dict, cfg: ModelConfig):
    """(W_y [..., N_h, N_x], cache): W_h^k W_x if tied, else readout.weightᵀ."""
    if not cfg.tied:
        return np.swapaxes(params["readout.weight"], -1, -2), None
    P, pcache = matrix_power.matrix_power_forward(params["weight_hh"], cfg.k)
    return P @ params["weight_ih"], (P, pcache)


def readout_weight_backward(dW_y, cache, params: dict, cfg: ModelConfig) -> dict:
    """Gradients of the readout weight's own parameters from ∂L/∂W_y."""
    if not cfg.tied:
        return {"readout.weight": np.swapaxes(dW_y, -1, -2)}
    P, pcache = cache
    dP = dW_y @ np.swapaxes(params["weight_ih"], -1, -2)
    return {"weight_ih": np.swapaxes(P, -1, -2) @ dW_y, "weight_hh": matrix_power.matrix_power_backward(dP, pcache)}


def forward(params: dict, cfg: ModelConfig, x: np.ndarray):
    """(ŷ [..., T, B, N_x], cache) for inputs x [..., T, B, N_x]."""
    W_y, wcache = readout_weight(params, cfg)
    h, rcache = linear_rnn.rnn_forward(x, params["weight_ih"], params["weight_hh"], cfg.relu_h)
    y, ocache = linear_rnn.readout_forward(h, W_y, params.get("readout.bias"), cfg.relu_y)
    return y, (wcache, rcache, ocache)


def loss_and_grads(params: dict, cfg: ModelConfig, x: np.ndarray, y: np.ndarray, importance: np.ndarray,
                   backend: str = "numpy"):
    """(loss [...] per model, gradients of Σ loss, ŷ). y [..., T, B, N_x] targets, importance [N_x].

    backend "numba": the fused kernel of cells/linear_rnn_numba.py (ŷ is then None)."""
    if backend == "numba":
        return _loss_and_grads_numba(params, cfg, x, y, importance)
    yhat, (wcache, rcache, ocache) = forward(params, cfg, x)
    T, B = x.shape[-3], x.shape[-2]
    err = yhat - y
    loss = np.einsum("...tbi,i->...", err * err, importance) / (T * B)
    dyhat = err * (2.0 * importance / (T * B))
    dh, dW_y, db = linear_rnn.readout_backward(dyhat, ocache)
    g = linear_rnn.rnn_backward(dh, rcache)
    grads = {"weight_ih": g["W_x"], "weight_hh": g["W_h"]}
    for name, v in readout_weight_backward(dW_y, wcache, params, cfg).items():
        grads[name] = grads.get(name, 0) + v
    if db is not None:
        grads["readout.bias"] = db
    return loss, grads, yhat


def _loss_and_grads_numba(params, cfg, x, y, importance):
    from ..cells import linear_rnn_numba

    lead = params["weight_hh"].shape[:-2]
    flat = {k: v.reshape((-1,) + v.shape[len(lead):]) for k, v in params.items()}
    W_y, wcache = readout_weight(flat, cfg)
    xs, ys = (a.reshape((-1,) + a.shape[-3:]) for a in (x, y))
    loss, g = linear_rnn_numba.loss_and_grads(xs, ys, flat["weight_ih"], flat["weight_hh"], W_y,
                                              flat.get("readout.bias"), importance, cfg.relu_h, cfg.relu_y)
    grads = {"weight_ih": g["W_x"], "weight_hh": g["W_h"]}
    for name, v in readout_weight_backward(g["W_y"], wcache, flat, cfg).items():
        grads[name] = grads.get(name, 0) + v
    if cfg.bias:
        grads["readout.bias"] = g["b"]
    return loss.reshape(lead), {k: v.reshape(params[k].shape) for k, v in grads.items()}, None

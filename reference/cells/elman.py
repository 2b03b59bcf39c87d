"""The Elman RNN cell (torch.nn.RNN, tanh or relu) in PyTorch's layout, forward and hand-derived backward, NumPy.

Parameters (torch.nn.RNN's names, so `torch.nn.RNN.load_state_dict` takes them unchanged):
    weight_ih_l0 [H, E]   weight_hh_l0 [H, H]   bias_ih_l0 [H]   bias_hh_l0 [H]

One step:  h' = φ(W_ih x + b_ih + W_hh h + b_hh),   φ = tanh or relu (the `nonlinearity` argument, as torch's),
or φ = identity: the linear RNN (`--cell linear`), torch.nn.RNN's layout without its nonlinearity.
A length mask m ∈ {0,1} freezes the state past a sequence's end: h_out = h + m ⊙ (h' − h).
"""
from __future__ import annotations

import numpy as np

from .plain_state import output, output_backward, state_size  # noqa: F401  (seq2seq's cell interface)
from .torch_layout import NAMES, stacked_shapes, uniform_init  # noqa: F401  (NAMES: torch's)

NONLINEARITIES = ("tanh", "relu")   # torch.nn.RNN's, and Elman's --nonlinearity
IDENTITY = "identity"               # φ(a) = a: the linear RNN (cells/choice.py's "linear"); torch has no such option
TORCH_NAME = "rnn"   # torch.nn.RNN: a torch seq2seq holds it as `rnn`, its parameters are rnn.<NAMES>


def shapes(hidden: int, in_size: int) -> dict:
    """{name: shape} of the parameters of an RNN(in_size, hidden)."""
    return stacked_shapes(1, hidden, in_size)


def init(hidden: int, in_size: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """torch's default init: every weight and bias ~ U(−1/√H, 1/√H)."""
    return uniform_init(shapes(hidden, in_size), hidden, rng, dtype)


def step_forward(x, h, p, m=None, nonlinearity: str = "tanh"):
    """One step. x [B, E], h [B, H], m [B] or None. Returns (h_out [B, H], cache)."""
    a = x @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
    h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0) if nonlinearity == "relu" else a
    if m is not None:
        h_new = h + m[:, None] * (h_new - h)
    return h_new, (x, h, a, h_new, m)


def step_backward(dh_out, cache, p, grads, nonlinearity: str = "tanh"):
    """Backward of one step. dh_out [B, H] → (dx [B, E], dh [B, H]); weight gradients are added into `grads`."""
    x, h, a, h_new, m = cache
    if m is None:
        dh_new, dh = dh_out, 0.0
    else:
        dh_new, dh = m[:, None] * dh_out, (1.0 - m[:, None]) * dh_out
    if nonlinearity == "tanh":
        t = np.tanh(a)
        da = dh_new * (1.0 - t * t)
    elif nonlinearity == "relu":
        da = dh_new * (a > 0)
    else:
        da = dh_new
    grads["weight_ih_l0"] += da.T @ x
    grads["bias_ih_l0"] += da.sum(0)
    grads["weight_hh_l0"] += da.T @ h
    grads["bias_hh_l0"] += da.sum(0)
    return da @ p["weight_ih_l0"], dh + da @ p["weight_hh_l0"]


def forward(x, h0, p, mask=None, nonlinearity: str = "tanh"):
    """Run over a sequence. x [T, B, E], h0 [B, H], mask [T, B] or None. Returns (hs [T, B, H], cache)."""
    if nonlinearity not in NONLINEARITIES + (IDENTITY,):
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES + (IDENTITY,)}, got {nonlinearity!r}")
    T = x.shape[0]
    hs = np.empty((T,) + h0.shape, dtype=np.result_type(x, h0))
    caches = []
    h = h0
    for t in range(T):
        h, c = step_forward(x[t], h, p, None if mask is None else mask[t], nonlinearity)
        hs[t] = h
        caches.append(c)
    return hs, (caches, p, nonlinearity)


def backward(dhs, cache):
    """Backpropagation through time. dhs [T, B, H] → (dx [T, B, E], dh0 [B, H], grads)."""
    caches, p, nonlinearity = cache
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    T = dhs.shape[0]
    dx = np.empty((T,) + caches[0][0].shape, dtype=dhs.dtype)
    dh = np.zeros_like(dhs[0])
    for t in reversed(range(T)):
        dx[t], dh = step_backward(dhs[t] + dh, caches[t], p, grads, nonlinearity)
    return dx, dh, grads

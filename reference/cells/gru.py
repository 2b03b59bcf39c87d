"""The GRU cell in PyTorch's layout, forward and hand-derived backward, in plain NumPy.

Parameters (a dict with torch.nn.GRU's names, so `torch.nn.GRU.load_state_dict` takes it unchanged):
    weight_ih_l0 [3H, E] = [W_ir; W_iz; W_in]      bias_ih_l0 [3H]
    weight_hh_l0 [3H, H] = [W_hr; W_hz; W_hn]      bias_hh_l0 [3H]

One step (b_hn sits inside the reset product, as in torch):
    r  = σ(W_ir x + b_ir + W_hr h + b_hr)
    z  = σ(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h
A length mask m ∈ {0,1} freezes the state past a sequence's end: h_out = h + m ⊙ (h' − h).

This file is the readable specification; `gru_numba.py` is the fast path and is tested against it.
"""
from __future__ import annotations

import numpy as np

from .plain_state import output, output_backward, state_size  # noqa: F401  (seq2seq's cell interface)
from .torch_layout import NAMES, stacked_shapes, uniform_init  # noqa: F401  (NAMES: torch's)

TORCH_NAME = "gru"   # the attribute of a torch seq2seq holding the cell: its parameters are gru.<NAMES>


def shapes(hidden: int, in_size: int) -> dict:
    """{name: shape} of the parameters of a GRU(in_size, hidden)."""
    return stacked_shapes(3, hidden, in_size)


def init(hidden: int, in_size: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """torch's default init: every weight and bias ~ U(−1/√H, 1/√H)."""
    return uniform_init(shapes(hidden, in_size), hidden, rng, dtype)


def sigmoid(a):
    # 0.5·(1 + tanh(a/2)) equals 1/(1 + e^−a) and never overflows.
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def step_forward(x, h, p, m=None):
    """One GRU step.

    x [B, E], h [B, H], m [B] or None (1 = step, 0 = hold the state). Returns (h_out [B, H], cache)."""
    H = h.shape[1]
    gi = x @ p["weight_ih_l0"].T + p["bias_ih_l0"]
    gh = h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
    r = sigmoid(gi[:, :H] + gh[:, :H])
    z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    hn = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * hn)
    h_new = (1.0 - z) * n + z * h
    if m is not None:
        h_new = h + m[:, None] * (h_new - h)
    return h_new, (x, h, r, z, n, hn, m)


def step_backward(dh_out, cache, p, grads):
    """Backward of one step. dh_out [B, H] → (dx [B, E], dh [B, H]); weight gradients are added into `grads`."""
    x, h, r, z, n, hn, m = cache
    if m is None:
        dh_new, dh = dh_out, 0.0
    else:
        dh_new, dh = m[:, None] * dh_out, (1.0 - m[:, None]) * dh_out
    dn = dh_new * (1.0 - z)
    dz = dh_new * (h - n)
    dh = dh + dh_new * z
    dan = dn * (1.0 - n * n)          # through tanh
    dar = dan * hn * r * (1.0 - r)    # through r ⊙ hn, then the sigmoid
    daz = dz * z * (1.0 - z)
    dgi = np.concatenate([dar, daz, dan], axis=1)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)
    grads["weight_ih_l0"] += dgi.T @ x
    grads["bias_ih_l0"] += dgi.sum(0)
    grads["weight_hh_l0"] += dgh.T @ h
    grads["bias_hh_l0"] += dgh.sum(0)
    dx = dgi @ p["weight_ih_l0"]
    dh = dh + dgh @ p["weight_hh_l0"]
    return dx, dh


def forward(x, h0, p, mask=None):
    """Run the GRU over a sequence.

    x [T, B, E], h0 [B, H], mask [T, B] or None. Returns (hs [T, B, H], cache); hs[t] is the state after step t."""
    T = x.shape[0]
    hs = np.empty((T,) + h0.shape, dtype=np.result_type(x, h0))
    caches = []
    h = h0
    for t in range(T):
        h, c = step_forward(x[t], h, p, None if mask is None else mask[t])
        hs[t] = h
        caches.append(c)
    return hs, (caches, p)


def backward(dhs, cache):
    """Backpropagation through time.

    dhs [T, B, H]: the loss gradient with respect to every output state hs[t] (zeros where a state is unused).
    Returns (dx [T, B, E], dh0 [B, H], grads: dict of parameter gradients)."""
    caches, p = cache
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    T = dhs.shape[0]
    dx = np.empty((T,) + caches[0][0].shape, dtype=dhs.dtype)
    dh = np.zeros_like(dhs[0])
    for t in reversed(range(T)):
        dx[t], dh = step_backward(dhs[t] + dh, caches[t], p, grads)
    return dx, dh, grads

"""The LSTM cell in PyTorch's layout, forward and hand-derived backward, in plain NumPy.

Parameters (a dict with torch.nn.LSTM's names, so `torch.nn.LSTM.load_state_dict` takes it unchanged):
    weight_ih_l0 [4H, E] = [W_ii; W_if; W_ig; W_io]      bias_ih_l0 [4H]
    weight_hh_l0 [4H, H] = [W_hi; W_hf; W_hg; W_ho]      bias_hh_l0 [4H]

One step:
    i  = σ(W_ii x + b_ii + W_hi h + b_hi)        f = σ(W_if x + b_if + W_hf h + b_hf)
    g  = tanh(W_ig x + b_ig + W_hg h + b_hg)     o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g                           h' = o ⊙ tanh(c')

The state is one vector s = [h; c] [B, 2H] (h first), so the LSTM runs wherever a cell's state is a plain array:
the encoder hands s to the decoder, and an intervention edits the whole of it (h and c). `output(s)` is h, what a
readout sees. A length mask m ∈ {0,1} freezes the state past a sequence's end: s_out = s + m ⊙ (s' − s).
"""
from __future__ import annotations

import numpy as np

from .gru import sigmoid
from .torch_layout import NAMES, stacked_shapes, uniform_init  # noqa: F401  (NAMES: torch's)

TORCH_NAME = "lstm"  # torch.nn.LSTM: a torch seq2seq holds it as `lstm`, its parameters are lstm.<NAMES>


def shapes(hidden: int, in_size: int) -> dict:
    """{name: shape} of the parameters of an LSTM(in_size, hidden)."""
    return stacked_shapes(4, hidden, in_size)


def init(hidden: int, in_size: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """torch's default init: every weight and bias ~ U(−1/√H, 1/√H)."""
    return uniform_init(shapes(hidden, in_size), hidden, rng, dtype)


def state_size(hidden: int) -> int:
    """Length of the state vector s = [h; c]."""
    return 2 * hidden


def output(s):
    """h, the first half of the state s [..., 2H]."""
    return s[..., :s.shape[-1] // 2]


def output_backward(dout):
    """Adjoint of `output`: dout [..., H] (w.r.t. h) → [..., 2H] = [dout; 0] (c does not reach the readout)."""
    return np.concatenate([dout, np.zeros_like(dout)], axis=-1)


def step_forward(x, s, p, m=None):
    """One LSTM step. x [B, E], s = [h; c] [B, 2H], m [B] or None. Returns (s_out [B, 2H], cache)."""
    H = s.shape[1] // 2
    h, c = s[:, :H], s[:, H:]
    a = x @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    s_new = np.concatenate([o * tc, c_new], axis=1)
    if m is not None:
        s_new = s + m[:, None] * (s_new - s)
    return s_new, (x, h, c, i, f, g, o, tc, m)


def step_backward(ds_out, cache, p, grads):
    """Backward of one step. ds_out [B, 2H] → (dx [B, E], ds [B, 2H]); weight gradients are added into `grads`."""
    x, h, c, i, f, g, o, tc, m = cache
    H = h.shape[1]
    if m is None:
        ds_new, ds = ds_out, 0.0
    else:
        ds_new, ds = m[:, None] * ds_out, (1.0 - m[:, None]) * ds_out
    dh_new, dc_new = ds_new[:, :H], ds_new[:, H:]
    dc_new = dc_new + dh_new * o * (1.0 - tc * tc)        # h' = o ⊙ tanh(c')
    do = dh_new * tc
    da = np.concatenate([dc_new * g * i * (1.0 - i),      # through c' = f c + i g, then each gate's nonlinearity
                         dc_new * c * f * (1.0 - f),
                         dc_new * i * (1.0 - g * g),
                         do * o * (1.0 - o)], axis=1)
    grads["weight_ih_l0"] += da.T @ x
    grads["bias_ih_l0"] += da.sum(0)
    grads["weight_hh_l0"] += da.T @ h
    grads["bias_hh_l0"] += da.sum(0)
    ds = ds + np.concatenate([da @ p["weight_hh_l0"], dc_new * f], axis=1)
    return da @ p["weight_ih_l0"], ds


def forward(x, s0, p, mask=None):
    """Run the LSTM over a sequence. x [T, B, E], s0 [B, 2H], mask [T, B] or None.
    Returns (ss [T, B, 2H], cache); ss[t] is the state [h; c] after step t."""
    T = x.shape[0]
    ss = np.empty((T,) + s0.shape, dtype=np.result_type(x, s0))
    caches = []
    s = s0
    for t in range(T):
        s, cch = step_forward(x[t], s, p, None if mask is None else mask[t])
        ss[t] = s
        caches.append(cch)
    return ss, (caches, p)


def backward(dss, cache):
    """Backpropagation through time. dss [T, B, 2H]: the loss gradient w.r.t. every state ss[t].
    Returns (dx [T, B, E], ds0 [B, 2H], grads)."""
    caches, p = cache
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    T = dss.shape[0]
    dx = np.empty((T,) + caches[0][0].shape, dtype=dss.dtype)
    ds = np.zeros_like(dss[0])
    for t in reversed(range(T)):
        dx[t], ds = step_backward(dss[t] + ds, caches[t], p, grads)
    return dx, ds, grads

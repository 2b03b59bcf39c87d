"""The AL-RNN (cells/alrnn.py) as a cell of the repeat model: its steps over [T, B, E] inputs with a length mask.

    z' = Ā ⊙ z + W Φ*(z) + C x + h,     Ā = [0, …, 0, A_1, …, A_P],  Φ* = ReLU on the last P units (cells/alrnn.py)
    z_out = z + m ⊙ (z' − z)           m ∈ {0, 1}: the state stays frozen past a sequence's end (as cells/elman.py)

Parameters: A [P], W [H, H], C [H, E], h [H], under the prefix `alrnn.` (no torch module has this cell; the name is
ours). The AL-RNN's own readout D is left out: the repeat model's head reads the whole state z (plain_state.py).
P = 0 is a purely linear RNN with a full matrix W; P = H makes every unit a ReLU unit.

Initialisation (`init`): the AL-RNN spec's "sequence" kind (A, W, h ~ N(0, 0.01²), C ~ N(0, 0.1²); cells/alrnn.py
without D) is the default, because both kinds train. Measured on tests/test_seq2seq_cells.py's tiny run (H 32, 30
symbols, lengths 2–3, 400 steps of batch 32, lr 3e-3; exact match, chance ≈ 4e-5):
    P              0                    1       4       32 = H
    "sequence"     0.67 / 0.81 / 0.71   0.68    0.81    0.23 / 0.19 / 0.16      (seeds 1 / 2 / 3)
    "uniform"      0.90 / 0.90 / 0.90   0.91    0.90    0.78 / 0.71 / 0.71      (every entry ~ U(−1/√H, 1/√H))
torch's uniform init learns faster in this short budget, most at P = H (all ReLUs with the spec's small W).
"""
from __future__ import annotations

import numpy as np

from . import alrnn
from .plain_state import output, output_backward, state_size  # noqa: F401  (seq2seq's cell interface)
from .torch_layout import uniform_init

TORCH_NAME = "alrnn"
NAMES = ("A", "W", "C", "h")
INITS = ("sequence", "uniform")


def shapes(hidden: int, in_size: int, P: int) -> dict:
    """{name: shape} of an AL-RNN with `hidden` units, P of them ReLUs, reading in_size inputs."""
    if not 0 <= P <= hidden:
        raise ValueError(f"P must be in 0..{hidden} (the hidden size), got {P}")
    return {"A": (P,), "W": (hidden, hidden), "C": (hidden, in_size), "h": (hidden,)}


def init(hidden: int, in_size: int, P: int, rng: np.random.Generator, dtype=np.float32,
         kind: str = "sequence") -> dict:
    """kind "sequence": the spec's (cells/alrnn.py's init without D); "uniform": every entry ~ U(−1/√H, 1/√H)."""
    s = shapes(hidden, in_size, P)
    if kind == "uniform":
        return uniform_init(s, hidden, rng, dtype)
    if kind != "sequence":
        raise ValueError(f"unknown init kind {kind!r}: one of {INITS}")
    p = alrnn.init(hidden, P, in_size, 0, rng, dtype, kind="sequence")   # N = 0: D is empty and draws nothing
    return {k: p[k] for k in NAMES}


def step_forward(x, z, p, m=None):
    """One step. x [B, E], z [B, H], m [B] or None. Returns (z_out [B, H], cache)."""
    z_new, cache = alrnn.step_forward(z, x, p)
    if m is not None:
        z_new = z + m[:, None] * (z_new - z)
    return z_new, (cache, m)


def step_backward(dz_out, cache, p, grads):
    """Backward of one step. dz_out [B, H] → (dx [B, E], dz [B, H]); parameter gradients are added into `grads`."""
    inner, m = cache
    if m is None:
        return alrnn.step_backward(dz_out, inner, p, grads)
    dx, dz = alrnn.step_backward(m[:, None] * dz_out, inner, p, grads)
    return dx, dz + (1.0 - m[:, None]) * dz_out


def forward(x, z0, p, mask=None):
    """Run over a sequence. x [T, B, E], z0 [B, H], mask [T, B] or None. Returns (zs [T, B, H], cache)."""
    T = x.shape[0]
    zs = np.empty((T,) + z0.shape, dtype=np.result_type(x, z0))
    caches, z = [], z0
    for t in range(T):
        z, c = step_forward(x[t], z, p, None if mask is None else mask[t])
        zs[t] = z
        caches.append(c)
    return zs, (caches, p)


def backward(dzs, cache):
    """Backpropagation through time. dzs [T, B, H] → (dx [T, B, E], dz0 [B, H], grads: A, W, C, h)."""
    caches, p = cache
    grads = {k: np.zeros_like(p[k]) for k in NAMES}
    T = dzs.shape[0]
    dx = np.empty((T,) + caches[0][0][1].shape, dtype=dzs.dtype)
    dz = np.zeros_like(dzs[0])
    for t in reversed(range(T)):
        dx[t], dz = step_backward(dzs[t] + dz, caches[t], p, grads)
    return dx, dz, grads

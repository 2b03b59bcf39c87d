"""The almost-linear RNN (AL-RNN) cell, sequence-task variant (spec A1), forward and hand-derived backward in NumPy.

State z ∈ R^M, input s ∈ R^K; the last P units are ReLUs ("PWL units"), the first M − P are linear:

    Φ*(z) = [z_1, …, z_{M−P}, max(0, z_{M−P+1}), …, max(0, z_M)]
    z_t   = Ā ⊙ z_{t−1} + W Φ*(z_{t−1}) + C s_t + h,       Ā = [0, …, 0, A_1, …, A_P]
    y_t   = D z_t                                           (the readout, in alrnn/readout.py)

Parameters (a dict with the names of the torch oracle's nn.Parameters):
    A [P]   the diagonal self-coupling of the ReLU units (the linear units' self-coupling is W_ii)
    W [M, M]   C [M, K]   h [M]   D [N, M]

Backward of one step, with φ'(z) = 1 on linear units and 1[z > 0] on ReLU units:
    dz_{t−1} = Ā ⊙ dz_t + (Wᵀ dz_t) ⊙ φ'(z_{t−1})
    dW += dz_tᵀ Φ*(z_{t−1}),  dA += Σ_b dz_t[:, M−P:] ⊙ z_{t−1}[:, M−P:],  dC += dz_tᵀ s_t,  dh += Σ_b dz_t

This file is the readable specification; `alrnn_numba.py` is the fast path and is tested against it.
"""
from __future__ import annotations

import numpy as np

NAMES = ("A", "W", "C", "h", "D")


def init(M: int, P: int, K: int, N: int, rng: np.random.Generator, dtype=np.float32, kind: str = "sequence") -> dict:
    """The spec's initialisation (A1).

    kind "sequence" (addition, copy, contextual integration): A, W, h ~ N(0, 0.01²), C, D ~ N(0, 0.1²).
    kind "multitask": A ~ 0.9 + 0.1·N(0, 1), W ~ N(0, (0.1/√M)²), h = 0, C, D ~ N(0, 0.1²)."""
    if kind == "sequence":
        p = {"A": 0.01 * rng.standard_normal(P), "W": 0.01 * rng.standard_normal((M, M)),
             "h": 0.01 * rng.standard_normal(M)}
    elif kind == "multitask":
        p = {"A": 0.9 + 0.1 * rng.standard_normal(P), "W": (0.1 / np.sqrt(M)) * rng.standard_normal((M, M)),
             "h": np.zeros(M)}
    else:
        raise ValueError(f"unknown init kind {kind!r}")
    p["C"] = 0.1 * rng.standard_normal((M, K))
    p["D"] = 0.1 * rng.standard_normal((N, M))
    return {k: p[k].astype(dtype) for k in NAMES}


def n_relu(p: dict) -> int:
    """P, read from the parameters (A has one entry per ReLU unit)."""
    return p["A"].shape[0]


def phi(z, P: int):
    """Φ*(z): ReLU on the last P units of the last axis, identity on the others."""
    if P == 0:
        return z
    out = z.copy()
    out[..., z.shape[-1] - P:] = np.maximum(z[..., z.shape[-1] - P:], 0)
    return out


def bitcode(z, P: int):
    """d = 1[z_{M−P+1..M} > 0]: the linear subregion of each state, z [..., M] → [..., P] bool."""
    return z[..., z.shape[-1] - P:] > 0


def step_forward(z, s, p):
    """One step. z [B, M], s [B, K] → (z_new [B, M], cache)."""
    P = n_relu(p)
    M = z.shape[1]
    fz = phi(z, P)
    z_new = fz @ p["W"].T + s @ p["C"].T + p["h"]
    z_new[:, M - P:] += p["A"] * z[:, M - P:]
    return z_new, (z, s, fz)


def step_backward(dz_new, cache, p, grads):
    """Backward of one step. dz_new [B, M] → (ds [B, K], dz [B, M]); parameter gradients are added into `grads`."""
    z, s, fz = cache
    P = n_relu(p)
    M = z.shape[1]
    grads["W"] += dz_new.T @ fz
    grads["C"] += dz_new.T @ s
    grads["h"] += dz_new.sum(0)
    grads["A"] += (dz_new[:, M - P:] * z[:, M - P:]).sum(0)
    dfz = dz_new @ p["W"]
    dz = dfz
    if P:
        dz[:, M - P:] = dfz[:, M - P:] * (z[:, M - P:] > 0) + p["A"] * dz_new[:, M - P:]
    return dz_new @ p["C"], dz


def forward(s, z0, p):
    """Run the cell over a sequence.

    s [T, B, K], z0 [B, M]. Returns (zs [T, B, M], cache); zs[t] is the state after reading s[t]."""
    T = s.shape[0]
    zs = np.empty((T,) + z0.shape, dtype=np.result_type(s, z0))
    caches, z = [], z0
    for t in range(T):
        z, c = step_forward(z, s[t], p)
        zs[t] = z
        caches.append(c)
    return zs, (caches, p)


def backward(dzs, cache):
    """Backpropagation through time.

    dzs [T, B, M]: the loss gradient with respect to every state zs[t] (zeros where a state is unused).
    Returns (ds [T, B, K], dz0 [B, M], grads: dict for A, W, C, h)."""
    caches, p = cache
    grads = {k: np.zeros_like(p[k]) for k in ("A", "W", "C", "h")}
    T = dzs.shape[0]
    ds = np.empty((T,) + caches[0][1].shape, dtype=dzs.dtype)
    dz = np.zeros_like(dzs[0])
    for t in reversed(range(T)):
        ds[t], dz = step_backward(dzs[t] + dz, caches[t], p, grads)
    return ds, dz, grads

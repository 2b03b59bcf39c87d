"""k-delay recall of sparse features (Sharma et al. 2026, spec Part B1; k = 0 is Toy Models of Superposition).

    x_{t,i} = B_{t,i} · U_{t,i},   B ~ Bernoulli(p),  U ~ U[0, 1],  i.i.d. over t = 1..T and features i = 1..N_x
    y_t     = x_{t−k}  for t > k,   0 for t ≤ k
    I_i     = decay^i  (per-feature importance; decay 0.9 as in the TMS replication)

Moments of one feature: μ = E[X] = p/2, ν = E[X²] = p/3, Var(X) = p/3 − p²/4.
Batches are time-major, x [T, B, N_x], and depend only on (seed, step), so a run resumes bit-for-bit.
"""
from __future__ import annotations

import numpy as np

U_MEAN, U_SQ = 0.5, 1.0 / 3.0   # E[U], E[U²] for U ~ U[0, 1]
EVAL_STREAM = 2**31 - 1         # the step number of the fixed evaluation batch (never a training step)


def moments(p: float) -> dict:
    """{"mean": μ, "second": ν, "var": Var(X)} of one feature x = Bernoulli(p)·U[0, 1]."""
    mu, nu = p * U_MEAN, p * U_SQ
    return {"mean": mu, "second": nu, "var": nu - mu * mu}


def importance(n_features: int, decay: float = 0.9) -> np.ndarray:
    """I [N_x] = decay^i, i = 0..N_x−1 (the most important feature first)."""
    return decay ** np.arange(n_features, dtype=np.float64)


def sample_inputs(seed: int, step: int, T: int, batch: int, n_features: int, p: float) -> np.ndarray:
    """x [T, B, N_x] float64 drawn from the stream (seed, step) alone.

    One uniform r per entry: the feature is active when r < p, and then r/p ~ U[0, 1) is its amplitude."""
    r = np.random.default_rng([seed, step, 11]).random((T, batch, n_features))
    return np.where(r < p, r / p, 0.0)


def delayed_targets(x: np.ndarray, k: int) -> np.ndarray:
    """y [..., T, B, N_x] with y_t = x_{t−k} (t > k) and 0 for the first k steps (time is axis −3)."""
    y = np.zeros_like(x)
    T = x.shape[-3]
    if k < T:
        y[..., k:, :, :] = x[..., :T - k, :, :]
    return y


def seed_batches(seeds, step: int, T: int, batch: int, n_features: int, p: float) -> np.ndarray:
    """x [S, T, B, N_x]: the batch of `step` for each seed, stacked for seed-vectorised training."""
    return np.stack([sample_inputs(s, step, T, batch, n_features, p) for s in seeds])

"""The addition problem (spec A3; Hochreiter & Schmidhuber 1997): add the two marked numbers of a sequence.

    x_t ~ U[0, 1] for t = 0..T−1;  m ∈ {0, 1}^T with exactly two ones at distinct steps drawn from [0, T/2)
    input s_t = (x_t, m_t) (K = 2);  target y = Σ_t x_t m_t, read from the final state;  loss MSE
    a trial counts as solved if |ŷ − y| < 0.04 (reg-PLRNN's criterion)

The best affine predictor of y from the inputs reaches MSE 0.153 at T = 50 and 0.163 at T = 100 (spec A5), which
is all a linear AL-RNN (P = 0) can do; Var(y) ≈ 0.167.
"""
from __future__ import annotations

import numpy as np

from .trials import Trials, single

SOLVED_ERROR = 0.04


def make(n: int, T: int, rng: np.random.Generator) -> Trials:
    """n trials of length T ≥ 4: s [T, n, 2], read out at T−1, y [1, n, 1]."""
    x = rng.random((n, T))
    # Two distinct marks in [0, T/2): the first uniformly, the second uniformly among the others.
    half = T // 2
    i = rng.integers(0, half, n)
    j = rng.integers(0, half - 1, n)
    j = j + (j >= i)
    m = np.zeros((n, T))
    m[np.arange(n), i] = 1
    m[np.arange(n), j] = 1
    s = np.stack([x, m], axis=-1).transpose(1, 0, 2)
    y = (x * m).sum(1)
    return single(s, np.full((1, n), T - 1), y.reshape(1, n, 1).astype(np.float32))


def score(y_pred, trials: Trials) -> dict:
    """mse and accuracy (the fraction with |error| < 0.04)."""
    err = (y_pred - trials.y)[0, :, 0]
    return {"mse": float(np.mean(err.astype(np.float64) ** 2)), "accuracy": float(np.mean(np.abs(err) < SOLVED_ERROR))}

"""When each channel stops being written during the input: the synchrony of the GRU's update gates (issue 21 part 1).

The paper describes the switch from onions to linear subspaces in words: "small models close all gates synchronously
during the input, large ones freeze individual channels at different times". This measures it. For one input sequence
of length L (steps t = 0..L−1), the GRU keeps z of each channel and writes 1 − z of new content (h' = (1 − z) ⊙ n +
z ⊙ h), so of what channel j holds after step t, the fraction that reaches the final encoder state unchanged is

    R[t, j] = Π_{t' = t+1}^{L−1} z[t', j]          (R[L−1, j] = 1)

and the share of the final value written at step t is c[t, j] = (1 − z[t, j]) · R[t, j] (with h_0 = 0 these shares
sum to 1 − Π_t z[t, j]: how much of the channel the input wrote at all).

    freeze step  f_j = min{t : R[t, j] ≥ keep}: from step f_j on, the remaining inputs overwrite less than 1 − keep
                 of channel j in total. keep = 0.9: 90 % of what the channel holds then survives to the decoder, the
                 same "mostly kept" the paper's gate plots show as z ≈ 1. A channel that is still being written at
                 the last step has f_j = L − 1.
    active       channels whose written share Σ_t c[t, j] ≥ 0.5 (a channel the input hardly writes holds ~0 from
                 h_0 = 0 and freezes at step 0 trivially; it says nothing about timing).

Per channel, f_j is the median over N random length-L sequences (tokens uniform over the symbols, seeded). Over the
active channels: mean, std ("spread": 0 when every channel freezes at the same step), the interquartile range and
the share of channels at the most common step ("modal fraction": 1 = perfectly synchronous).
"""
from __future__ import annotations

import numpy as np

from . import inspect

KEEP = 0.9
ACTIVE = 0.5


def retention(z: np.ndarray) -> np.ndarray:
    """R [T, B, H] from update gates z [T, B, H]: R[t] = Π_{t' > t} z[t'] (R[T−1] = 1)."""
    R = np.ones_like(z)
    for t in range(z.shape[0] - 2, -1, -1):
        R[t] = R[t + 1] * z[t + 1]
    return R


def freeze_steps(z: np.ndarray, keep: float = KEEP) -> np.ndarray:
    """f [B, H]: for each sequence and channel the first step t with R[t] ≥ keep (R[T−1] = 1, so f ≤ T − 1)."""
    R = retention(z)
    return np.argmax(R >= keep, axis=0)


def written_share(z: np.ndarray) -> np.ndarray:
    """[B, H]: Σ_t (1 − z[t]) R[t] = 1 − Π_t z[t], the share of each channel's final value the input wrote."""
    return 1.0 - np.prod(z, axis=0)


def synchrony(z: np.ndarray, keep: float = KEEP) -> dict:
    """The numbers of the module docstring from the encoder's update gates z [L, N, H] (N sequences of length L)."""
    f = np.median(freeze_steps(z, keep), axis=0)                    # [H]
    active = np.median(written_share(z), axis=0) >= ACTIVE            # [H]
    fa = f[active]
    if fa.size == 0:
        stats = {"mean": None, "std": None, "iqr": None, "modal_fraction": None}
    else:
        steps, counts = np.unique(fa, return_counts=True)
        q1, q3 = np.percentile(fa, [25, 75])
        stats = {"mean": float(fa.mean()), "std": float(fa.std()), "iqr": float(q3 - q1),
                 "modal_fraction": float(counts.max() / fa.size), "modal_step": float(steps[counts.argmax()])}
    return {"keep": keep, "length": int(z.shape[0]), "sequences": int(z.shape[1]), "channels": int(z.shape[2]),
            "active_channels": int(active.sum()), "freeze_step": f.tolist(), "active": active.tolist(),
            "mean_write": (1.0 - z).mean(axis=1).tolist(), **stats}


def gate_synchrony(params: dict, n_symbols: int, length: int, n: int = 1000, seed: int = 0,
                   keep: float = KEEP) -> dict:
    """synchrony() of a trained model on n random sequences of `length` tokens (NumPy reference GRU, float64)."""
    rng = np.random.default_rng([seed, 21])
    tokens = rng.integers(0, n_symbols, (n, length))
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    z = inspect.encoder_gates(p64, tokens, np.full(n, length, np.int64))["z"]
    return synchrony(z, keep)

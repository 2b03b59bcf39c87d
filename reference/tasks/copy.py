"""The copy (memory-recall) task, short by default (spec A3, A7): recall a symbol sequence after a delay.

    alphabet of `symbols` one-hot channels; channel 0 is the cue, content symbols are 1..symbols−1 (uniform)
    steps: seq_len content symbols | 1 cue step (channel 0) | delay blank steps | seq_len recall steps (channel 0)
    T = 2·seq_len + 1 + delay;  read out D z_t on the last seq_len steps;  cross-entropy over the symbols−1 contents
    metrics: symbol accuracy, and sequence accuracy (every symbol of a trial right)
"""
from __future__ import annotations

import numpy as np

from .trials import Trials, single


def length(seq_len: int, delay: int) -> int:
    return 2 * seq_len + 1 + delay


def make(n: int, seq_len: int, delay: int, symbols: int, rng: np.random.Generator) -> Trials:
    """n trials: s [T, n, symbols], read out at the last seq_len steps, labels [seq_len, n] in 0..symbols−2."""
    T = length(seq_len, delay)
    content = rng.integers(1, symbols, (seq_len, n))
    s = np.zeros((T, n, symbols))
    for i in range(seq_len):
        s[i, np.arange(n), content[i]] = 1
    s[seq_len, :, 0] = 1
    s[T - seq_len:, :, 0] = 1
    t_out = np.repeat(np.arange(T - seq_len, T)[:, None], n, axis=1)
    return single(s, t_out, (content - 1).astype(np.int64))


def score(y_pred, trials: Trials) -> dict:
    """accuracy (per symbol) and sequence_accuracy."""
    right = y_pred.argmax(-1) == trials.y
    return {"accuracy": float(right.mean()), "sequence_accuracy": float(right.all(0).mean())}

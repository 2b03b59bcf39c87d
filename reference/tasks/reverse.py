"""The reverse task (issue 21, access order): store a random token sequence, then say it back last token first.

The sequences, their sets and splits are the repeat task's (tasks/repeat.py: unique sequences, disjoint train and
valid, 30 symbols); only the output order differs. Time-major [T, B]:
    encoder input    x_1 .. x_L                        (as repeat)
    decoder input    SOS, x_L .. x_2                   (teacher forcing on the reversed targets)
                     SOS, NI, NI, ...                  (the no-input variant)
    target           x_L .. x_1                        target[t] = x_{L−t} (1-based), i.e. input position L−1−t
So the token at input position p (0-based) is the output of decoder step L−1−p (`output_step`).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .repeat import N_SYMBOLS, Batch
from .repeat import make_batch as repeat_batch


def reversed_tokens(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """[N, Lmax]: each row's first L tokens in reverse order, 0-padded past L."""
    Lmax = tokens.shape[1]
    t = np.arange(Lmax)[None, :]
    src = np.clip(lengths[:, None] - 1 - t, 0, Lmax - 1)
    return np.where(t < lengths[:, None], np.take_along_axis(tokens, src, axis=1), 0)


def make_batch(tokens: np.ndarray, lengths: np.ndarray, n_symbols: int = N_SYMBOLS, no_input: bool = False) -> Batch:
    """The repeat batch of the reversed sequences, with the original sequences as the encoder input."""
    fwd = repeat_batch(tokens, lengths, n_symbols, no_input)
    rev = repeat_batch(reversed_tokens(tokens, lengths), lengths, n_symbols, no_input)
    return replace(rev, enc_in=fwd.enc_in)


def output_step(p: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The decoder step whose target is input position p: L − 1 − p."""
    return np.asarray(lengths) - 1 - np.asarray(p)

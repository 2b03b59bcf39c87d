"""A set of trials for the AL-RNN tasks: inputs, where to read out, and what to read (time-major arrays).

    s        [T, B, K] float32   the input at every step (zero-padded past a trial's end)
    t_out    [R, B]    int64     the steps read out (R per trial)
    y        [R, B, N] float32 targets (MSE) or [R, B] int64 class labels (cross-entropy)
    weights  [N]       float32   per-output MSE weights (unused for labels)
    task     [B]       int64     which task each trial belongs to (0 for single-task sets)
    length   [B]       int64     each trial's real length (steps after it are padding)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Trials(NamedTuple):
    s: np.ndarray
    t_out: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    task: np.ndarray
    length: np.ndarray

    @property
    def n(self) -> int:
        return self.s.shape[1]

    def take(self, idx) -> "Trials":
        """The trials idx (in that order), trimmed to the longest of them."""
        idx = np.asarray(idx)
        T = int(self.length[idx].max())
        return Trials(np.ascontiguousarray(self.s[:T, idx]), self.t_out[:, idx], self.y[:, idx], self.weights,
                      self.task[idx], self.length[idx])


def single(s, t_out, y, weights=(1.0,)) -> Trials:
    """Trials of one task whose trials all have length T = s.shape[0]."""
    B = s.shape[1]
    return Trials(s.astype(np.float32), np.asarray(t_out, np.int64), y, np.asarray(weights, np.float32),
                  np.zeros(B, np.int64), np.full(B, s.shape[0], np.int64))


def label_accuracy(y_pred, trials: Trials) -> dict:
    """accuracy of the argmax of the logits y_pred [R, B, C] against the labels trials.y [R, B]."""
    return {"accuracy": float(np.mean(y_pred.argmax(-1) == trials.y))}

"""Contextual integration (spec A3): integrate noisy ±1 evidence, and report its sign, flipped in one context.

    input (K = 4): [context one-hot (2), evidence, recall flag]
    t = 0: the context c ∈ {0, 1} (p = ½);  t = 1..T−2: evidence e_t = ±1 (p = ½) + N(0, 0.01²);
    t = T−1: the context again and the recall flag
    label = 1[(+1 if c = 0 else −1) · Σ_t e_t > 0];  cross-entropy on 2 logits D z_{T−1}

No affine function of the inputs can flip the evidence's sign by context (an XOR of c and sign Σe): a linear
AL-RNN stays at cross-entropy ln 2 (its accuracy can still reach 75 % by being right in one context only).
"""
from __future__ import annotations

import numpy as np

from .trials import Trials, label_accuracy, single

NOISE = 0.01


def make(n: int, T: int, rng: np.random.Generator) -> Trials:
    """n trials of length T ≥ 3: s [T, n, 4], labels [1, n]; trials.task holds each trial's context."""
    ctx = rng.integers(0, 2, n)
    e = rng.choice([-1.0, 1.0], size=(T - 2, n)) + NOISE * rng.standard_normal((T - 2, n))
    s = np.zeros((T, n, 4))
    s[0, np.arange(n), ctx] = 1
    s[1:T - 1, :, 2] = e
    s[T - 1, np.arange(n), ctx] = 1
    s[T - 1, :, 3] = 1
    sign = np.where(ctx == 0, 1.0, -1.0)
    label = (sign * e.sum(0) > 0).astype(np.int64)
    return single(s, np.full((1, n), T - 1), label.reshape(1, n))._replace(task=ctx.astype(np.int64))


score = label_accuracy      # accuracy of the argmax (shared with the digits task)

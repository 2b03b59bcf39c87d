"""torch's default initialisation of its recurrent cells (nn.GRU, nn.LSTM, nn.RNN): every weight and bias drawn from
U(−1/√H, 1/√H), H the hidden size, in the order of the `shapes` dict."""
from __future__ import annotations

import numpy as np


def uniform_init(shapes: dict, hidden: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """{name: array of shapes[name]}, each entry ~ U(−1/√hidden, 1/√hidden)."""
    k = 1.0 / np.sqrt(hidden)
    return {n: rng.uniform(-k, k, size=s).astype(dtype) for n, s in shapes.items()}

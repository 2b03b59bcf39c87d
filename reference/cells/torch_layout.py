"""PyTorch's layout of its one-layer recurrent cells (nn.RNN, nn.GRU, nn.LSTM): the parameters under torch's names,
`gates` blocks of H rows stacked in each weight and bias, and torch's default initialisation, every entry drawn from
U(−1/√H, 1/√H) in the order of the names.

    weight_ih_l0 [gates·H, E]   weight_hh_l0 [gates·H, H]   bias_ih_l0 [gates·H]   bias_hh_l0 [gates·H]
    gates: 1 (Elman), 3 (GRU: r, z, n), 4 (LSTM: i, f, g, o)
"""
from __future__ import annotations

import numpy as np

NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def stacked_shapes(gates: int, hidden: int, in_size: int) -> dict:
    """{name: shape} of a cell with `gates` stacked blocks, input size in_size and hidden size `hidden`."""
    return {"weight_ih_l0": (gates * hidden, in_size), "weight_hh_l0": (gates * hidden, hidden),
            "bias_ih_l0": (gates * hidden,), "bias_hh_l0": (gates * hidden,)}


def uniform_init(shapes: dict, hidden: int, rng: np.random.Generator, dtype=np.float32) -> dict:
    """{name: array of shapes[name]}, each entry ~ U(−1/√hidden, 1/√hidden)."""
    k = 1.0 / np.sqrt(hidden)
    return {n: rng.uniform(-k, k, size=s).astype(dtype) for n, s in shapes.items()}


def folded(p: dict, prefix: str):
    """(W_ih, b_ih + b_hh, W_hh) of the cell under `prefix` in p: the two biases only ever add, so the fast paths
    fold both into the input table (cells/seq_numba.py)."""
    return p[prefix + "weight_ih_l0"], p[prefix + "bias_ih_l0"] + p[prefix + "bias_hh_l0"], p[prefix + "weight_hh_l0"]


def unfolded_grads(prefix: str, db, dw_ih, dw_hh) -> dict:
    """The cell's gradients under torch's names from those of `folded`'s three: each bias gets db."""
    return {prefix + "weight_ih_l0": dw_ih, prefix + "bias_ih_l0": db, prefix + "weight_hh_l0": dw_hh,
            prefix + "bias_hh_l0": db.copy()}

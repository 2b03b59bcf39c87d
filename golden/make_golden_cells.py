"""The PyTorch oracle for the LSTM and Elman cells (cells/lstm.py, cells/elman.py): torch float64, masked sequences.

Each case runs torch.nn.LSTMCell / torch.nn.RNNCell step by step over x [T, B, E] from a start state, with a length
mask m [T, B] that holds the state where m = 0 (s ← s + m ⊙ (cell(x, s) − s), for the LSTM on h and c alike), and
differentiates the functional Σ W ⊙ states. The LSTM's state is [h; c] [B, 2H] (onionref's convention), so
W [T, B, 2H] weighs both. Keys: x, s0, mask, W, param.<name> (torch.nn.LSTM / RNN names), states, dx, ds0,
grad.<name>. This file never imports onionref. Run: `python golden/make_golden_cells.py [NAME ...]`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_golden import to_numpy, to_torch, write_cases  # noqa: E402


def _params(rng, gates: int, H: int, E: int, scale: float = 2.0) -> dict:
    """torch's default init U(−k, k) widened by `scale` (k = scale/√H), float64: the gates leave their linear range."""
    k = scale / np.sqrt(H)
    return {"weight_ih_l0": rng.uniform(-k, k, (gates * H, E)), "weight_hh_l0": rng.uniform(-k, k, (gates * H, H)),
            "bias_ih_l0": rng.uniform(-k, k, gates * H), "bias_hh_l0": rng.uniform(-k, k, gates * H)}


def make_case(cell: str, T: int, B: int, E: int, H: int, seed: int, p_step: float = 0.7) -> dict:
    """cell: "lstm", "elman-tanh" or "elman-relu"."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    S = 2 * H if cell == "lstm" else H
    x = rng.standard_normal((T, B, E))
    s0 = rng.uniform(-1.0, 1.0, size=(B, S))
    mask = (rng.random((T, B)) < p_step).astype(np.float64)
    W = rng.standard_normal((T, B, S))
    params = _params(rng, 4 if cell == "lstm" else 1, H, E)
    if cell == "lstm":
        mod = nn.LSTMCell(E, H).double()
    else:
        mod = nn.RNNCell(E, H, nonlinearity=cell.split("-")[1]).double()
    mod.load_state_dict({n[:-3]: v for n, v in to_torch(params).items()}, strict=True)
    xt, s0t, mt = torch.tensor(x, requires_grad=True), torch.tensor(s0, requires_grad=True), torch.tensor(mask)
    s, states = s0t, []
    for t in range(T):
        if cell == "lstm":
            h, c = mod(xt[t], (s[:, :H], s[:, H:]))
            new = torch.cat([h, c], dim=1)
        else:
            new = mod(xt[t], s)
        s = s + mt[t, :, None] * (new - s)
        states.append(s)
    states = torch.stack(states)
    (states * torch.tensor(W)).sum().backward()
    out = {"x": x, "s0": s0, "mask": mask, "W": W, "states": to_numpy(states), "dx": to_numpy(xt.grad),
           "ds0": to_numpy(s0t.grad), "cell": np.array(cell)}
    out.update({"param." + k: v for k, v in params.items()})
    out.update({"grad." + n + "_l0": to_numpy(p.grad) for n, p in mod.named_parameters()})
    return out


CASES = {
    "lstm_masked": ("lstm", 6, 5, 4, 7, 31),
    "elman_tanh_masked": ("elman-tanh", 6, 5, 4, 7, 32),
    "elman_relu_masked": ("elman-relu", 6, 5, 4, 7, 33),
}


def main() -> None:
    """All cases, or only those named on the command line."""
    names = sys.argv[1:] or list(CASES)
    write_cases({k: (lambda k=k: make_case(*CASES[k])) for k in names})


if __name__ == "__main__":
    main()

"""PyTorch oracle (float64) for the delayed-recall models of the temporal-superposition lab (spec Part B).

Rebuilt here from the spec alone (this file never imports onionref):

    h_t = W_x x_t + W_h σ_h(h_{t−1}),  h_0 = 0;    ŷ_t = σ_y(W_yᵀ h_t + b)
    W_y = matrix_power(W_h, k) @ W_x (tied) or readout.weight.T (untied);  b optional
    linear: σ_h = σ_y = id;  ssm: σ_y = ReLU;  relu: σ_h = σ_y = ReLU
    target y_t = x_{t−k} (0 for t ≤ k);  loss = mean_{t,b} Σ_i I_i (y − ŷ)²,  I_i = 0.9^i
    then 5 steps of torch.optim.AdamW(lr, weight_decay=0) on the same batch

Inputs x = Bernoulli(p)·U[0, 1] drawn with NumPy here. Run `python golden/make_golden_superposition.py` to rewrite
golden/superposition_*.npz (byte-for-byte deterministic).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_golden import save_npz, to_numpy, write_cases  # noqa: E402

torch.set_default_dtype(torch.float64)
MODELS = ("linear", "ssm", "relu")


def torch_loss(params: dict, x, y, imp, model: str, k: int, tied: bool):
    """(loss, ŷ) of the delayed-recall model in torch, an explicit loop over time."""
    W_x, W_h = params["weight_ih"], params["weight_hh"]
    W_y = torch.linalg.matrix_power(W_h, k) @ W_x if tied else params["readout.weight"].T
    relu_h, relu_y = model == "relu", model in ("ssm", "relu")
    h = torch.zeros(x.shape[1], W_h.shape[0])
    outs = []
    for t in range(x.shape[0]):
        h = x[t] @ W_x.T + (torch.relu(h) if relu_h else h) @ W_h.T
        z = h @ W_y + (params["readout.bias"] if "readout.bias" in params else 0.0)
        outs.append(torch.relu(z) if relu_y else z)
    yhat = torch.stack(outs)
    loss = (((y - yhat) ** 2) * imp).sum() / (x.shape[0] * x.shape[1])
    return loss, yhat


def case(model: str, tied: bool, bias: bool, k: int, T: int, B: int, n_x: int, n_h: int, p: float, seed: int,
         lr: float = 0.01, steps: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    x = np.where(rng.random((T, B, n_x)) < p, rng.random((T, B, n_x)), 0.0)
    y = np.zeros_like(x)
    y[k:] = x[:T - k]
    imp = 0.9 ** np.arange(n_x)
    params = {"weight_ih": rng.normal(0, 0.8, (n_h, n_x)), "weight_hh": rng.normal(0, 0.8, (n_h, n_h))}
    if not tied:
        params["readout.weight"] = rng.normal(0, 0.8, (n_x, n_h))
    if bias:
        params["readout.bias"] = rng.normal(0, 0.3, n_x)
    tp = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    xt, yt, it = torch.tensor(x), torch.tensor(y), torch.tensor(imp)
    loss, yhat = torch_loss(tp, xt, yt, it, model, k, tied)
    loss.backward()
    out = {"model": np.array(MODELS.index(model)), "tied": np.array(tied), "bias": np.array(bias), "k": np.array(k),
           "x": x, "y": y, "importance": imp, "loss": to_numpy(loss), "yhat": to_numpy(yhat)}
    out.update({"param." + n: v for n, v in params.items()})
    out.update({"grad." + n: to_numpy(t.grad) for n, t in tp.items()})
    opt = torch.optim.AdamW(list(tp.values()), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss, _ = torch_loss(tp, xt, yt, it, model, k, tied)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out["adam.lr"] = np.array(lr)
    out["adam.losses"] = np.array(losses)
    out.update({"adam.final." + n: to_numpy(t) for n, t in tp.items()})
    return out


CASES = {f"superposition_{m}_{'tied' if tied else 'untied'}":
         (lambda m=m, tied=tied, s=i: case(m, tied, True, k=2, T=7, B=6, n_x=3, n_h=4, p=0.6, seed=100 + s))
         for i, (m, tied) in enumerate((m, t) for m in MODELS for t in (True, False))}
CASES["superposition_linear_tied_nobias_k0"] = lambda: case("linear", True, False, k=0, T=4, B=5, n_x=5, n_h=2,
                                                            p=0.5, seed=200)
CASES["superposition_ssm_tied_2d_k3"] = lambda: case("ssm", True, True, k=3, T=8, B=9, n_x=1, n_h=2, p=0.4, seed=201)


if __name__ == "__main__":
    write_cases(CASES)

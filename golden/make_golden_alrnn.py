"""The PyTorch oracle of the AL-RNN (spec A1, sequence-task variant) and MAR (spec A2), float64, saved as .npz.

torch is a test-time oracle only; this file never imports `onionref`: the cell, the readout, the losses and MAR are
written here again in torch from the spec, and autograd supplies the gradients.

    z_t = Ā ⊙ z_{t−1} + W Φ*(z_{t−1}) + C s_t + h,   Ā = [0_{M−P}, A],  Φ*(z) = [z_lin, relu(z_pwl)],  z_0 given
    y   = D z_{t_out}          loss = MSE (float targets) or cross-entropy (labels), + MAR(τ, M_reg)
    MAR = τ Σ_{i<M_reg} (W_ii (+A) − 1)² + Σ_{j≠i} W_ij² + h_i²

Cases: P = 0 (a linear RNN), 0 < P < M with M_reg reaching into the ReLU units, and P = M, each with a random
linear functional of all states too (for the cell alone). Run `python golden/make_golden_alrnn.py` to rewrite
golden/alrnn_*.npz (byte-for-byte deterministic).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from make_golden import save_npz  # the byte-deterministic .npz writer of the GRU oracle (same folder)

HERE = Path(__file__).resolve().parent
CASES = {  # name: (T, B, M, P, K, N, loss, M_reg)
    "alrnn_linear": (6, 4, 5, 0, 2, 1, "mse", 3),
    "alrnn_mixed": (9, 5, 7, 3, 3, 2, "ce", 6),
    "alrnn_full": (5, 3, 4, 4, 4, 3, "mse", 4),
}


def torch_alrnn(s, z0, A, W, C, h, P):
    """States [T, B, M] of the AL-RNN, written with torch ops."""
    M = W.shape[0]
    abar = torch.cat([torch.zeros(M - P, dtype=A.dtype), A])
    mask = torch.cat([torch.zeros(M - P), torch.ones(P)]).to(torch.bool)
    z, out = z0, []
    for t in range(s.shape[0]):
        fz = torch.where(mask, torch.relu(z), z)
        z = abar * z + fz @ W.T + s[t] @ C.T + h
        out.append(z)
    return torch.stack(out)


def torch_mar(A, W, h, tau, n_reg):
    M, P = W.shape[0], A.shape[0]
    total = 0.0
    for i in range(n_reg):
        self_c = W[i, i] + (A[i - (M - P)] if i >= M - P else 0.0)
        off = torch.cat([W[i, :i], W[i, i + 1:]])
        total = total + (self_c - 1) ** 2 + (off ** 2).sum() + h[i] ** 2
    return tau * total


def make_case(seed, T, B, M, P, K, N, loss_kind, n_reg, tau=0.1):
    rng = np.random.default_rng(seed)
    arr = {"A": rng.normal(0.5, 0.5, P), "W": 0.6 * rng.standard_normal((M, M)) / np.sqrt(M),
           "C": rng.standard_normal((M, K)), "h": 0.3 * rng.standard_normal(M), "D": rng.standard_normal((N, M))}
    s = rng.standard_normal((T, B, K))
    z0 = rng.standard_normal((B, M))
    t_out = np.stack([rng.integers(0, T, B), np.full(B, T - 1)])   # R = 2 read-outs per trial
    target = rng.standard_normal((2, B, N)) if loss_kind == "mse" else rng.integers(0, N, (2, B))
    proj = rng.standard_normal((T, B, M))
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in arr.items()}
    ts, tz0 = torch.tensor(s, requires_grad=True), torch.tensor(z0, requires_grad=True)
    zs = torch_alrnn(ts, tz0, tp["A"], tp["W"], tp["C"], tp["h"], P)
    # 1. the cell alone: gradients of Σ proj ⊙ zs
    g = torch.autograd.grad((zs * torch.tensor(proj)).sum(), [tp["A"], tp["W"], tp["C"], tp["h"], ts, tz0],
                            retain_graph=True)
    out = {"s": s, "z0": z0, "proj": proj, "zs": zs.detach().numpy(), "t_out": t_out, "target": target,
           "P": np.int64(P), "tau": np.float64(tau), "n_reg": np.int64(n_reg), "loss_kind": np.str_(loss_kind)}
    out.update({"param." + k: v for k, v in arr.items()})
    out.update({f"cell_grad.{k}": v.numpy() for k, v in zip(["A", "W", "C", "h", "s", "z0"], g)})
    # 2. readout + task loss + MAR
    y = zs[torch.tensor(t_out), torch.arange(B)[None, :]] @ tp["D"].T
    if loss_kind == "mse":
        task = torch.nn.functional.mse_loss(y, torch.tensor(target))
    else:
        task = torch.nn.functional.cross_entropy(y.reshape(-1, N), torch.tensor(target).reshape(-1))
    mar = torch_mar(tp["A"], tp["W"], tp["h"], tau, n_reg)
    total = task + mar
    gl = torch.autograd.grad(total, [tp[k] for k in ("A", "W", "C", "h", "D")], retain_graph=True)
    gm = torch.autograd.grad(mar, [tp[k] for k in ("A", "W", "h")], allow_unused=True, materialize_grads=True)
    out.update({"y": y.detach().numpy(), "task_loss": np.float64(task.item()), "mar_loss": np.float64(mar.item())})
    out.update({f"loss_grad.{k}": v.numpy() for k, v in zip(("A", "W", "C", "h", "D"), gl)})
    out.update({f"mar_grad.{k}": v.numpy() for k, v in zip(("A", "W", "h"), gm)})
    return out


def main() -> None:
    torch.set_num_threads(1)
    for i, (name, spec) in enumerate(CASES.items()):
        save_npz(HERE / f"{name}.npz", make_case(100 + i, *spec))
        print("wrote", HERE / f"{name}.npz")


if __name__ == "__main__":
    main()

"""How far back in time the task loss's gradient reaches: ‖∂L/∂z_t‖ per step t (BPTT, NumPy reference, float64).

With g_t = ∂L/∂z_t the total derivative (the readout at t plus everything sent back from step t+1),

    g_t = ∂L/∂y-part_t + Ā ⊙ g_{t+1} + (Wᵀ g_{t+1}) ⊙ φ'(z_t),      φ' = 1 (linear units), 1[z > 0] (ReLU units)
    ∂L/∂s_t = Cᵀ g_t                                                   (what step t's input can still change)

measured per trial: L_b is trial b's own loss (the batch loss is their mean, so ∂L_b/∂z_t = B · g_t[b]), and

    state[t] = mean_b ‖∂L_b/∂z_t‖₂        input[t] = mean_b ‖∂L_b/∂s_t‖₂        state_by_group[name][t] likewise,
    restricted to a group of units: "mar" (units 0..M_reg−1, the MAR integrators), "linear" (the other linear units),
    "relu" (the last P).

A gradient that vanishes across a delay shows as state[t] ≪ state[t_first_readout] at the input steps. Float64
keeps the vanished values resolved (float32 flushes them to zero below ~1e-38).
"""
from __future__ import annotations

import numpy as np

from ..cells import alrnn
from . import readout


def unit_groups(M: int, P: int, mar_units: int) -> dict:
    """{"mar", "linear", "relu"}: index arrays of the MAR units (the first mar_units), the other linear units and the
    ReLU units (the last P). A ReLU unit inside the first mar_units counts as "mar"."""
    idx = np.arange(M)
    return {"mar": idx[:mar_units], "linear": idx[mar_units:max(mar_units, M - P)],
            "relu": idx[max(mar_units, M - P):]}


def state_grads(params: dict, trials) -> np.ndarray:
    """g [T, B, M] = ∂L/∂z_t of the batch-mean task loss L (no MAR; z_0 = 0), in float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    s = np.asarray(trials.s, np.float64)
    zs, cache = alrnn.forward(s, np.zeros((s.shape[1], p["W"].shape[0])), p)
    y, rcache = readout.readout_forward(zs, p["D"], trials.t_out)
    dzs = readout.readout_backward(readout.task_loss(y, trials)[1].astype(np.float64), rcache)[0]
    caches = cache[0]
    sink = {k: np.zeros_like(p[k]) for k in ("A", "W", "C", "h")}
    g = np.empty_like(dzs)
    carry = np.zeros_like(dzs[0])
    for t in reversed(range(s.shape[0])):
        g[t] = dzs[t] + carry
        carry = alrnn.step_backward(g[t].copy(), caches[t], p, sink)[1]
    return g


def grad_norms(params: dict, trials, mar_units: int = 0) -> dict:
    """Per-step gradient norms of each trial's own loss (see the module docstring), each a list of T floats:
    {"state", "input", "state_by_group": {"mar", "linear", "relu"}}; steps after a trial's end count as zero."""
    g = state_grads(params, trials) * trials.n
    M, P = g.shape[2], np.asarray(params["A"]).shape[0]
    live = np.arange(g.shape[0])[:, None] < trials.length[None, :]

    def mean_norm(x):
        return (np.linalg.norm(x, axis=-1) * live).sum(1) / trials.n

    out = {"state": mean_norm(g).tolist(), "input": mean_norm(g @ np.asarray(params["C"], np.float64)).tolist()}
    out["state_by_group"] = {k: mean_norm(g[..., ix]).tolist() for k, ix in unit_groups(M, P, mar_units).items()}
    return out


def run_profile(run_dir, at_init: bool = False) -> dict:
    """The gradient profile of a run on its test trials: of its last parameters (RUN/checkpoint.safetensors, the end
    of its last training session) or, with at_init, of its initial parameters (epoch 0).

    Returns grad_norms(...) plus {"run", "label", "epoch", "first_readout": the earliest step read out,
    "reach": state[0] / state[first_readout]} (how much of the readout's gradient reaches the first input step)."""
    from pathlib import Path

    from .. import runs
    from ..errors import UserError
    from .config import ALRNNConfig
    from .data import make_split
    from .train import init_params, load_params

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"no AL-RNN run in {run_dir} (no config.json)")
    cfg = ALRNNConfig.from_dict(runs.read_config(run_dir))
    if at_init:
        params, epoch = init_params(cfg), 0
    else:
        if not (run_dir / "checkpoint.safetensors").is_file():
            raise UserError(f"run {run_dir} has no checkpoint yet (it has not reached its first evaluation)")
        params, epoch = load_params(run_dir, cfg)
    trials = make_split(cfg, "test")
    out = grad_norms(params, trials, cfg.mar_units)
    first = int(trials.t_out.min())
    reach = out["state"][0] / out["state"][first] if out["state"][first] > 0 else float("nan")
    return {"run": str(run_dir), "label": f"{run_dir.name} epoch {epoch}", "epoch": epoch, "first_readout": first,
            "reach": reach, **out}

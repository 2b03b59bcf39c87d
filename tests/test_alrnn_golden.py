"""Golden comparisons: the NumPy AL-RNN, readout, losses and MAR against the torch float64 oracle
(golden/make_golden_alrnn.py), for P = 0, 0 < P < M and P = M.

1. The committed fixtures: states, the cell's gradients (of a random functional, also w.r.t. inputs and z_0),
   the read-out, the task loss, MAR and their gradients; relative error ≤ 1e-10 per tensor.
2. The committed fixtures are what the oracle produces today (needs torch; they were generated, not typed in).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gradcheck import rel_err
from runhelpers import assert_oracle_output_matches, load_oracle
from onionref.alrnn import mar, readout
from onionref.cells import alrnn
from onionref.tasks.trials import Trials

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = ("alrnn_linear", "alrnn_mixed", "alrnn_full")
TOL = 1e-10


def load(name):
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def errors(c) -> dict:
    p = {k[6:]: c[k].copy() for k in c if k.startswith("param.")}
    assert p["A"].shape == (int(c["P"]),)
    zs, cache = alrnn.forward(c["s"], c["z0"], p)
    ds, dz0, g = alrnn.backward(c["proj"], cache)
    err = {"zs": rel_err(zs, c["zs"]), "cell.s": rel_err(ds, c["cell_grad.s"]),
           "cell.z0": rel_err(dz0, c["cell_grad.z0"])}
    err.update({f"cell.{k}": rel_err(g[k], c[f"cell_grad.{k}"]) for k in g})
    y, rc = readout.readout_forward(zs, p["D"], c["t_out"])
    B = zs.shape[1]
    N = p["D"].shape[0]   # torch's MSELoss is the mean over outputs too: weights 1/N
    trials = Trials(c["s"], c["t_out"], c["target"], np.full(N, 1.0 / N), np.zeros(B, int), np.full(B, zs.shape[0]))
    loss, dy = readout.task_loss(y, trials)
    dzs, dD = readout.readout_backward(dy, rc)
    lg = alrnn.backward(dzs, cache)[2]
    mloss, mc = mar.mar_forward(p, float(c["tau"]), int(c["n_reg"]))
    mg = mar.mar_backward(1.0, mc)
    lg["D"] = dD
    for k in ("A", "W", "h"):
        lg[k] = lg[k] + mg[k]
    err.update({"y": rel_err(y, c["y"]), "task_loss": rel_err(loss, c["task_loss"]),
                "mar_loss": rel_err(mloss, c["mar_loss"])})
    err.update({f"loss.{k}": rel_err(v, c[f"loss_grad.{k}"]) for k, v in lg.items()})
    err.update({f"mar.{k}": rel_err(mg[k], c[f"mar_grad.{k}"]) for k in mg})
    return err


@pytest.mark.parametrize("name", CASES)
def test_numpy_alrnn_matches_the_torch_oracle(name):
    c = load(name)
    err = errors(c)
    assert len(err) == 18
    bad = {k: v for k, v in err.items() if not v <= TOL}
    assert not bad, bad


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch (the oracle) is not installed")
def test_fixtures_are_what_the_oracle_writes_today():
    oracle = load_oracle("make_golden_alrnn")
    for i, (name, spec) in enumerate(oracle.CASES.items()):
        fresh, stored = oracle.make_case(100 + i, *spec), load(name)
        assert_oracle_output_matches(fresh, stored, name)

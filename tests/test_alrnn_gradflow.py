"""alrnn/gradflow.py: the per-step gradient ‖∂L/∂z_t‖ of the task loss, checked independently.

- g_t = ∂L/∂z_t against centred finite differences of the loss with a perturbation added to the state z_t itself
  (a forward written here, step by step), for every t, on hypothesis-chosen shapes, 0 ≤ P ≤ M;
- Σ_t Σ_b g_t equals the reference backward's ∂L/∂h (every path summed);
- a linear network with W = a·I decays the gradient by exactly a per step before the first readout (vanishing);
- grad_norms is per trial: on B trials it is the mean of its value on each trial alone;
- the unit groups partition 0..M−1.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradcheck import EPS
from onionref.alrnn import gradflow, readout
from onionref.cells import alrnn
from onionref.tasks import copy as copy_task
from onionref.tasks.trials import single


def _problem(rng, T, B, M, K, P, classify):
    p = {"A": rng.normal(0.3, 0.5, P), "W": rng.standard_normal((M, M)) / np.sqrt(M),
         "C": rng.standard_normal((M, K)), "h": 0.5 * rng.standard_normal(M), "D": rng.standard_normal((2, M))}
    s = rng.standard_normal((T, B, K))
    t_out = np.stack([rng.integers(0, T, B), np.full(B, T - 1)])
    y = rng.integers(0, 2, (2, B)) if classify else rng.standard_normal((2, B, 2))
    return p, single(s, t_out, y)._replace(s=s)


def _loss_with_kick(p, trials, t_kick, kick):
    """The task loss with `kick` [B, M] added to the state z_{t_kick} (so that later steps see it)."""
    z = np.zeros((trials.n, p["W"].shape[0]))
    zs = []
    for t in range(trials.s.shape[0]):
        z = alrnn.step_forward(z, trials.s[t], p)[0]
        if t == t_kick:
            z = z + kick
        zs.append(z)
    y = readout.readout_forward(np.stack(zs), p["D"], trials.t_out)[0]
    return readout.task_loss(y, trials)[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(1, 5), st.integers(1, 3), st.data(), st.booleans(),
       st.integers(0, 2 ** 32 - 1))
def test_state_grads_match_finite_differences(T, B, M, K, data, classify, seed):
    P = data.draw(st.integers(0, M))
    rng = np.random.default_rng(seed)
    p, trials = _problem(rng, T, B, M, K, P, classify)
    g = gradflow.state_grads(p, trials)
    assert g.shape == (T, B, M) and g.dtype == np.float64
    for t in range(T):
        v = rng.standard_normal((B, M))
        num = (_loss_with_kick(p, trials, t, EPS * v) - _loss_with_kick(p, trials, t, -EPS * v)) / (2 * EPS)
        assert abs(num - float(np.sum(g[t] * v))) <= 1e-6 * max(1.0, abs(num)), (t, num, np.sum(g[t] * v))


@pytest.mark.parametrize("P", [0, 2, 5])
def test_state_grads_sum_to_the_bias_gradient(P):
    rng = np.random.default_rng(P)
    p, trials = _problem(rng, 7, 4, 5, 3, P, True)
    zs, cache = alrnn.forward(trials.s, np.zeros((4, 5)), p)
    y, rc = readout.readout_forward(zs, p["D"], trials.t_out)
    dzs = readout.readout_backward(readout.task_loss(y, trials)[1], rc)[0]
    dh = alrnn.backward(dzs, cache)[2]["h"]
    assert np.allclose(gradflow.state_grads(p, trials).sum((0, 1)), dh, rtol=1e-12, atol=1e-15)


def test_linear_network_decays_by_its_gain_per_step():
    a, seq_len, delay, M = 0.5, 2, 6, 4
    rng = np.random.default_rng(0)
    trials = copy_task.make(8, seq_len, delay, 4, rng)
    p = {"A": np.zeros(0), "W": a * np.eye(M), "C": rng.standard_normal((M, 4)), "h": np.zeros(M),
         "D": rng.standard_normal((3, M))}
    st_ = np.array(gradflow.grad_norms(p, trials)["state"])
    first_out = copy_task.length(seq_len, delay) - seq_len
    assert np.allclose(st_[:first_out] / st_[1:first_out + 1], a, rtol=1e-9)
    assert st_[0] < 1e-2 * st_[first_out]


def test_grad_norms_are_per_trial_means():
    rng = np.random.default_rng(3)
    p, trials = _problem(rng, 6, 5, 4, 2, 2, True)
    whole = gradflow.grad_norms(p, trials, mar_units=2)
    one = [gradflow.grad_norms(p, trials.take([b]), mar_units=2) for b in range(5)]
    for key in ("state", "input"):
        assert np.allclose(whole[key], np.mean([o[key] for o in one], axis=0), rtol=1e-10)
    for grp in ("mar", "linear", "relu"):
        each = np.mean([o["state_by_group"][grp] for o in one], 0)
        assert np.allclose(whole["state_by_group"][grp], each, rtol=1e-10)


@pytest.mark.parametrize("M,P,k", [(6, 2, 3), (6, 0, 3), (6, 6, 3), (6, 4, 3), (5, 1, 0), (4, 2, 4)])
def test_unit_groups_partition(M, P, k):
    g = gradflow.unit_groups(M, P, k)
    assert sorted(np.concatenate(list(g.values())).tolist()) == list(range(M))
    assert g["mar"].tolist() == list(range(k)) and all(i >= M - P for i in g["relu"])


def test_gradients_command(tmp_path, capsys):
    """`alrnn gradients RUN --at-init --json`: the init profile (epoch 0) and the run's last epoch; at the spec's
    init (W ~ N(0, 0.01²)) almost nothing of the readout's gradient reaches the first input step."""
    import json

    from runhelpers import assert_one_line_error, call_main
    run = tmp_path / "r"
    rc, _, err = call_main(["alrnn", "train", "--task", "copy", "--hidden", "6", "--P", "2", "--seq-len", "2",
                            "--delay", "6", "--epochs", "2", "--eval-every", "1", "--n-train", "64", "--n-test", "16",
                            "--quiet", "--out", run], capsys)
    assert rc == 0, err
    rc, out, err = call_main(["alrnn", "gradients", run, "--at-init", "--json", "--out", tmp_path / "g.png"], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    init, last = res["profiles"]
    assert (init["epoch"], last["epoch"]) == (0, 2) and init["first_readout"] == 2 + 1 + 6
    assert len(init["state"]) == copy_task.length(2, 6) and init["reach"] < 1e-6
    assert (tmp_path / "g.png").stat().st_size > 0
    for argv, needle in [([tmp_path / "none"], "no AL-RNN run"),
                         ([run, "--out", tmp_path / "no" / "g.png"], "no directory"),
                         ([], "Missing argument")]:
        assert_one_line_error(*call_main(["alrnn", "gradients", *argv], capsys), needle)
    (run / "checkpoint.safetensors").unlink()
    assert_one_line_error(*call_main(["alrnn", "gradients", run], capsys), "no checkpoint")


def test_sweep_takes_the_copy_and_lr_flags(tmp_path, capsys):
    """`alrnn sweep --lr --seq-len --delay --symbols` reach the sweep's budget (--collect: nothing is trained)."""
    from onionref import runs
    from runhelpers import call_main
    argv = ["alrnn", "sweep", "--task", "copy", "--P", "0,1", "--seeds", "1", "--hidden", "4", "--lr", "0.005",
            "--seq-len", "2", "--delay", "3", "--symbols", "3", "--epochs", "1", "--collect", "--quiet"]
    rc, _, err = call_main([*argv, "--out", tmp_path / "sw"], capsys)
    assert rc == 0, err
    budget = runs.read_json(tmp_path / "sw" / "sweep.json")["budget"]
    got = tuple(budget[k] for k in ("lr", "seq_len", "delay", "symbols", "length"))
    assert got == (0.005, 2, 3, 3, 8)

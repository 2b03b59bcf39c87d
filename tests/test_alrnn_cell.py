"""The NumPy AL-RNN (cells/alrnn.py), its readout and losses (alrnn/readout.py) and MAR (alrnn/mar.py):
centred finite differences in float64 on hypothesis-chosen shapes, and exact properties.

- the cell: f = Σ proj ⊙ zs w.r.t. every coordinate of A, W, C, h, the inputs and z_0, for 0 ≤ P ≤ M;
- readout + MSE / cross-entropy w.r.t. D and the cell parameters;
- MAR w.r.t. A, W, h for every M_reg ≤ M (reaching into the ReLU units or not);
- P = 0 is a linear map of the inputs (superposition holds); inside one region the step is z ↦ J_Ω z + h + C s.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from gradcheck import assert_grad
from onionref.alrnn import mar, readout
from onionref.cells import alrnn
from onionref.tasks.trials import single


@st.composite
def problems(draw, max_T=5, max_B=3, max_M=5, max_K=3):
    T, B = draw(st.integers(1, max_T)), draw(st.integers(1, max_B))
    M, K = draw(st.integers(1, max_M)), draw(st.integers(1, max_K))
    P = draw(st.integers(0, M))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    p = alrnn.init(M, P, K, 2, rng, np.float64)
    # A wide init, so the ReLU units sit on both sides of 0 and the recurrence matters.
    p = {"A": rng.normal(0.3, 0.5, P), "W": rng.standard_normal((M, M)) / np.sqrt(M),
         "C": rng.standard_normal((M, K)), "h": 0.5 * rng.standard_normal(M), "D": p["D"] * 10}
    s = rng.standard_normal((T, B, K))
    z0 = rng.standard_normal((B, M))
    return s, z0, p, rng


@settings(max_examples=30)
@given(problems())
def test_cell_gradients_match_finite_differences(prob):
    s, z0, p, rng = prob
    proj = rng.standard_normal((s.shape[0], s.shape[1], p["W"].shape[0]))
    f = lambda: float(np.sum(proj * alrnn.forward(s, z0, p)[0]))
    ds, dz0, grads = alrnn.backward(proj, alrnn.forward(s, z0, p)[1])
    assert set(grads) == {"A", "W", "C", "h"}
    for k, g in grads.items():
        assert g.shape == p[k].shape
        if g.size:                        # A is empty when P = 0
            assert_grad(f, p[k], g, name=k)
    assert_grad(f, s, ds, name="s")
    assert_grad(f, z0, dz0, name="z0")


@settings(max_examples=20)
@given(problems(), st.booleans())
def test_readout_and_task_loss_gradients(prob, classify):
    s, z0, p, rng = prob
    T, B = s.shape[:2]
    t_out = np.stack([rng.integers(0, T, B), np.full(B, T - 1)])
    y = rng.integers(0, 2, (2, B)) if classify else rng.standard_normal((2, B, 2))
    trials = single(s, t_out, y, weights=(1.0, 0.5))._replace(s=s)  # keep float64 inputs

    def loss():
        zs = alrnn.forward(s, z0, p)[0]
        return readout.task_loss(readout.readout_forward(zs, p["D"], t_out)[0], trials)[0]

    zs, cache = alrnn.forward(s, z0, p)
    yhat, rc = readout.readout_forward(zs, p["D"], t_out)
    _, dy = readout.task_loss(yhat, trials)
    dzs, dD = readout.readout_backward(dy, rc)
    grads = alrnn.backward(dzs, cache)[2]
    assert_grad(loss, p["D"], dD, name="D")
    for k, g in grads.items():
        if g.size:
            assert_grad(loss, p[k], g, name=k)


@settings(max_examples=30)
@given(problems(), st.data())
def test_mar_gradient_matches_finite_differences(prob, data):
    _, _, p, _ = prob
    M = p["W"].shape[0]
    n_reg = data.draw(st.integers(0, M))
    tau = data.draw(st.floats(0.01, 2.0))
    f = lambda: mar.mar_forward(p, tau, n_reg)[0]
    loss, cache = mar.mar_forward(p, tau, n_reg)
    g = mar.mar_backward(1.0, cache)
    for k in ("A", "W", "h"):
        if g[k].size:
            assert_grad(f, p[k], g[k], name=k)
    if n_reg == 0:
        assert loss == 0.0


def test_mar_is_zero_exactly_at_a_line_attractor():
    M, P, n_reg = 5, 2, 4
    p = {"A": np.array([0.25, 0.5]), "W": np.eye(M), "h": np.zeros(M)}
    p["W"][3, 3] = 0.75                   # unit 3 is the first ReLU unit: W_33 + A_0 = 1
    p["W"][4, 0] = 9.0                    # row 4 is not regularised
    p["h"][4] = 3.0
    assert mar.mar_forward(p, 0.1, n_reg)[0] == 0.0
    p["W"][0, 1] = 2.0
    assert np.isclose(mar.mar_forward(p, 0.1, n_reg)[0], 0.1 * 4.0)


@given(problems())
def test_linear_alrnn_is_linear_in_its_inputs_and_initial_state(prob):
    s, z0, p, rng = prob
    p = {**p, "A": p["A"][:0]}            # P = 0
    s2, z02 = rng.standard_normal(s.shape), rng.standard_normal(z0.shape)
    f = lambda s_, z_, h: alrnn.forward(s_, z_, {**p, "h": h})[0]
    zero_h = np.zeros_like(p["h"])
    lhs = f(2 * s - 3 * s2, 2 * z0 - 3 * z02, zero_h)
    rhs = 2 * f(s, z0, zero_h) - 3 * f(s2, z02, zero_h)
    assert np.allclose(lhs, rhs, atol=1e-9 * max(1.0, np.abs(rhs).max()))


@given(problems())
def test_one_step_is_the_region_affine_map(prob):
    s, z0, p, _ = prob
    M, P = p["W"].shape[0], p["A"].shape[0]
    d = alrnn.bitcode(z0, P)
    for b in range(z0.shape[0]):
        D = np.diag(np.concatenate([np.ones(M - P), d[b].astype(float)]))
        J = np.diag(np.concatenate([np.zeros(M - P), p["A"]])) + p["W"] @ D
        want = J @ z0[b] + p["h"] + p["C"] @ s[0, b]
        got = alrnn.step_forward(z0[b:b + 1], s[0, b:b + 1], p)[0][0]
        assert np.allclose(got, want, atol=1e-12 * max(1.0, np.abs(want).max()))

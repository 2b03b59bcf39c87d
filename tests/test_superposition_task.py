"""The k-delay recall task and the four-term analytic loss of the linear model."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from onionref.superposition import geometry as G
from onionref.superposition.analytic_loss import TERMS, analytic_loss
from onionref.superposition.model import ModelConfig, init_params, loss_and_grads, readout_weight
from onionref.tasks.delay_recall import delayed_targets, importance, moments, sample_inputs


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31), step=st.integers(0, 10**6), k=st.integers(0, 5), T=st.integers(1, 8),
       p=st.floats(0.05, 1.0))
def test_batches_come_from_seed_and_step_and_targets_are_delayed(seed, step, k, T, p):
    x = sample_inputs(seed, step, T, 7, 3, p)
    np.testing.assert_array_equal(x, sample_inputs(seed, step, T, 7, 3, p))
    assert not np.array_equal(x, sample_inputs(seed, step + 1, T, 7, 3, p)) or not x.any()
    assert x.min() >= 0 and x.max() < 1
    y = delayed_targets(x, k)
    assert not y[:min(k, T)].any()
    np.testing.assert_array_equal(y[k:], x[:max(T - k, 0)])


def test_inputs_have_the_stated_moments():
    p = 0.2
    x = sample_inputs(0, 0, 50, 4000, 2, p)
    m = moments(p)
    assert abs((x > 0).mean() - p) < 0.005
    assert abs(x.mean() - m["mean"]) < 0.003 and abs((x ** 2).mean() - m["second"]) < 0.003
    np.testing.assert_allclose(importance(3, 0.9), [1, 0.9, 0.81])


def test_scalar_terms_are_the_spec_formula():
    """In steady state (every step sees all of a_0..a_k) the terms are ν(1−a_k)², ν Σ_{s≠k} a_s²,
    μ² Σ_{s≠s'} a_s a_{s'} and −2μ² Σ_{s≠k} a_s; here the first k steps are excluded by building A with T = k+1
    and checking the last step's share."""
    rng = np.random.default_rng(0)
    a, k, mu, nu = rng.normal(size=4), 3, 0.1, 0.07
    full = analytic_loss(a[:, None, None], k, mu, nu, np.ones(1))
    head = analytic_loss(a[:k, None, None], k, mu, nu, np.ones(1))   # the t ≤ k transient alone (T = k)
    last = {t: full[t] * (k + 1) - head[t] * k for t in TERMS}      # the share of step t = k + 1
    off = np.delete(a, k)
    np.testing.assert_allclose(last["task"], nu * (1 - a[k]) ** 2)
    np.testing.assert_allclose(last["projection_interference"], nu * (off ** 2).sum())
    np.testing.assert_allclose(last["composition_interference"], mu ** 2 * (a.sum() ** 2 - (a ** 2).sum()))
    np.testing.assert_allclose(last["mean_correction"], -2 * mu ** 2 * off.sum())
    assert last["bias"] == 0


def test_analytic_loss_matches_monte_carlo():
    """Vector inputs, untied readout, with and without a bias: the analytic loss equals the loss of 60k sequences
    within their sampling error (~1 %; 2.5 % allowed)."""
    for bias in (False, True):
        cfg = ModelConfig("linear", 2, 3, 2, tied=False, bias=bias)
        params = init_params(cfg, np.random.default_rng(1), scale=1.5)
        if bias:
            params["readout.bias"][:] = [0.1, -0.2]
        T, p = 6, 0.3
        x = sample_inputs(0, 0, T, 60_000, 2, p)
        emp, _, _ = loss_and_grads(params, cfg, x, delayed_targets(x, 2), importance(2))
        W_y, _ = readout_weight(params, cfg)
        A = G.projections(W_y, params["weight_ih"], params["weight_hh"], T - 1)
        m = moments(p)
        ana = analytic_loss(A, 2, m["mean"], m["second"], importance(2), params.get("readout.bias"))
        assert abs(ana["total"] / float(emp) - 1) < 0.025, (bias, ana, emp)
        assert (ana["bias"] != 0) == bias

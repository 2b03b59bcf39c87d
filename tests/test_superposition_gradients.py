"""Finite differences (float64) of the delayed-recall models' hand-derived backward, on hypothesis-chosen shapes:
all three models, tied (through the matrix power) and untied, with and without an output bias, with a leading
seed axis; the matrix power's own gradient; and seed-vectorised losses equal to one-model-at-a-time losses."""
from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings, strategies as st

from gradcheck import assert_grad
from onionref.cells.matrix_power import matrix_power_backward, matrix_power_forward
from onionref.superposition.model import MODELS, ModelConfig, init_params, loss_and_grads
from onionref.tasks.delay_recall import delayed_targets, importance, seed_batches


@settings(max_examples=20)
@given(model=st.sampled_from(MODELS), tied=st.booleans(), bias=st.booleans(), k=st.integers(0, 3),
       n_x=st.integers(1, 3), n_h=st.integers(1, 4), B=st.integers(1, 3), extra_T=st.integers(1, 3),
       n_seeds=st.sampled_from([None, 2]), seed=st.integers(0, 2**31))
# a loss of about 5e5 (tied k = 2 at init scale 1.5): the centred difference itself is good to only ~1e-4 there
@example(model="linear", tied=True, bias=True, k=2, n_x=3, n_h=1, B=1, extra_T=2, n_seeds=2, seed=3)
def test_loss_gradients_match_finite_differences(model, tied, bias, k, n_x, n_h, B, extra_T, n_seeds, seed):
    cfg = ModelConfig(model, n_x, n_h, k, tied, bias)
    lead = () if n_seeds is None else (n_seeds,)
    params = init_params(cfg, np.random.default_rng(seed), lead, scale=1.5)
    if bias:
        params["readout.bias"] += np.random.default_rng(seed + 1).normal(0, 0.3, params["readout.bias"].shape)
    seeds = [seed % 1000 + i for i in range(n_seeds or 1)]
    x = seed_batches(seeds, 0, k + extra_T, B, n_x, 0.7)
    x = x if n_seeds else x[0]
    y, imp = delayed_targets(x, k), importance(n_x)
    _, grads, _ = loss_and_grads(params, cfg, x, y, imp)
    assert set(grads) == set(params)
    for name, v in params.items():
        assert_grad(lambda: float(loss_and_grads(params, cfg, x, y, imp)[0].sum()), v, grads[name], name=name)


@settings(max_examples=15)
@given(n=st.integers(1, 4), k=st.integers(0, 5), seed=st.integers(0, 2**31))
def test_matrix_power_gradient(n, k, seed):
    rng = np.random.default_rng(seed)
    A, W = rng.normal(0, 0.7, (n, n)), rng.normal(size=(n, n))
    P, cache = matrix_power_forward(A, k)
    np.testing.assert_allclose(P, np.linalg.matrix_power(A, k), rtol=1e-12, atol=1e-14)
    assert_grad(lambda: float((matrix_power_forward(A, k)[0] * W).sum()), A, matrix_power_backward(W, cache))


def test_seed_axis_is_independent_models():
    """Loss and gradients of 3 stacked models equal those of each model alone."""
    cfg = ModelConfig("relu", 2, 3, 2, True, True)
    params = init_params(cfg, np.random.default_rng(0), (3,), scale=1.5)
    x = seed_batches([0, 1, 2], 5, 6, 4, 2, 0.5)
    y, imp = delayed_targets(x, 2), importance(2)
    loss, grads, _ = loss_and_grads(params, cfg, x, y, imp)
    for i in range(3):
        l1, g1, _ = loss_and_grads({k: v[i] for k, v in params.items()}, cfg, x[i], y[i], imp)
        np.testing.assert_allclose(loss[i], l1, rtol=1e-13)
        for name in g1:
            np.testing.assert_allclose(grads[name][i], g1[name], rtol=1e-12, atol=1e-15)


@settings(max_examples=10)
@given(model=st.sampled_from(MODELS), tied=st.booleans(), bias=st.booleans(), k=st.integers(0, 3),
       n_x=st.integers(1, 3), n_h=st.integers(1, 4), B=st.integers(1, 4), n_seeds=st.sampled_from([None, 3]),
       seed=st.integers(0, 2**31))
def test_numba_kernel_matches_numpy_reference(model, tied, bias, k, n_x, n_h, B, n_seeds, seed):
    cfg = ModelConfig(model, n_x, n_h, k, tied, bias)
    lead = () if n_seeds is None else (n_seeds,)
    params = init_params(cfg, np.random.default_rng(seed), lead, scale=1.5)
    x = seed_batches(range(n_seeds or 1), seed % 97, k + 4, B, n_x, 0.6)
    x = x if n_seeds else x[0]
    y, imp = delayed_targets(x, k), importance(n_x)
    loss, grads, _ = loss_and_grads(params, cfg, x, y, imp)
    loss2, grads2, _ = loss_and_grads(params, cfg, x, y, imp, backend="numba")
    assert np.shape(loss2) == np.shape(loss) and set(grads2) == set(grads)
    np.testing.assert_allclose(loss2, loss, rtol=1e-12, atol=1e-14)
    for name in grads:
        np.testing.assert_allclose(grads2[name], grads[name], rtol=1e-10, atol=1e-12 * max(1, np.abs(grads[name]).max()))

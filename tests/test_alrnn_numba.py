"""The AL-RNN's Numba fast path (cells/alrnn_numba.py) against the NumPy reference (cells/alrnn.py), float32,
on hypothesis-chosen shapes (0 ≤ P ≤ M, batches split into one or several chunks), and its determinism."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from gradcheck import rel_err
from onionref.alrnn import model
from onionref.cells import alrnn, alrnn_numba
from onionref.tasks.trials import single


@st.composite
def problems(draw):
    T, B = draw(st.integers(1, 12)), draw(st.integers(1, 9))
    M, K = draw(st.integers(1, 24)), draw(st.integers(1, 5))
    P = draw(st.integers(0, M))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    p = {"A": rng.normal(0.3, 0.5, P), "W": rng.standard_normal((M, M)) / np.sqrt(M),
         "C": rng.standard_normal((M, K)), "h": 0.5 * rng.standard_normal(M)}
    return rng.standard_normal((T, B, K)), p, rng, draw(st.integers(1, 3))


@settings(max_examples=25)
@given(problems())
def test_numba_forward_and_backward_match_numpy(prob):
    s, p, rng, threads = prob
    old = alrnn_numba.get_threads()
    alrnn_numba.set_threads(threads)
    try:
        zs_ref, cache = alrnn.forward(s, np.zeros((s.shape[1], p["W"].shape[0])), p)
        dzs = rng.standard_normal(zs_ref.shape)
        g_ref = alrnn.backward(dzs, cache)[2]
        zs = alrnn_numba.forward(s, p)
        g = alrnn_numba.backward(dzs, zs, s, p)
    finally:
        alrnn_numba.set_threads(old)
    assert zs.dtype == np.float32
    assert rel_err(zs, zs_ref) < 1e-4
    for k in ("A", "W", "C", "h"):
        assert g[k].shape == p[k].shape and g[k].dtype == np.float32
        if g[k].size:
            assert rel_err(g[k], g_ref[k]) < 1e-4, k


def test_model_step_is_the_same_on_both_backends_and_bit_identical_when_repeated():
    rng = np.random.default_rng(5)
    p = alrnn.init(16, 4, 2, 1, rng)
    p = {k: v * 20 for k, v in p.items()}
    trials = single(rng.random((30, 64, 2)), np.full((1, 64), 29), rng.random((1, 64, 1)).astype(np.float32))
    l1, g1, _ = model.loss_and_grads(p, trials, "numba")
    l2, g2, _ = model.loss_and_grads(p, trials, "numba")
    l3, g3, _ = model.loss_and_grads({k: v.astype(np.float64) for k, v in p.items()},
                                     trials._replace(s=trials.s.astype(np.float64)), "numpy")
    assert l1 == l2 and all(np.array_equal(g1[k], g2[k]) for k in g1)
    assert abs(l1 - l3) <= 1e-4 * abs(l3)
    for k in g3:
        assert rel_err(g1[k], g3[k]) < 1e-3, k

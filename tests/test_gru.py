"""The NumPy GRU (cells/gru.py): finite differences and exact properties, on hypothesis-chosen problems in float64.

- gradients: centred differences of f = Σ W ⊙ hs (W random) w.r.t. every coordinate of every parameter, x and h0;
  masked (random 0/1 mask) and unmasked;
- a zero mask keeps the state bit for bit and passes no gradient to x; mask=None equals an all-ones mask;
- an update gate saturated at z = 1 keeps the state bit for bit;
- padding: appending masked steps changes neither the states nor any gradient; a prefix mask gives each
  sequence the state it would have alone, run to its own length.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from gradcheck import assert_grad
from onionref.cells import gru


@st.composite
def problems(draw, max_T=4, max_B=3, max_E=3, max_H=3):
    """(x [T,B,E], h0 [B,H], params, mask [T,B] float or None, W [T,B,H]) with a wide init (gates off-centre)."""
    T, B = draw(st.integers(1, max_T)), draw(st.integers(1, max_B))
    E, H = draw(st.integers(1, max_E)), draw(st.integers(1, max_H))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    p = gru.init(H, E, rng, np.float64)
    p = {k: 2.0 * v for k, v in p.items()}
    x = rng.standard_normal((T, B, E))
    h0 = rng.uniform(-1, 1, size=(B, H))
    mask = (rng.random((T, B)) < 0.6).astype(np.float64) if draw(st.booleans()) else None
    W = rng.standard_normal((T, B, H))
    return x, h0, p, mask, W


@settings(max_examples=30)
@given(problems())
def test_gradients_match_finite_differences(prob):
    x, h0, p, mask, W = prob
    f = lambda: float(np.sum(W * gru.forward(x, h0, p, mask)[0]))
    _, cache = gru.forward(x, h0, p, mask)
    dx, dh0, grads = gru.backward(W, cache)
    assert set(grads) == set(gru.NAMES)
    for k in gru.NAMES:
        assert grads[k].shape == p[k].shape
        assert_grad(f, p[k], grads[k], name=k)
    assert_grad(f, x, dx, name="x")
    assert_grad(f, h0, dh0, name="h0")


@settings(max_examples=10)
@given(problems(max_T=6, max_B=4, max_E=12, max_H=16), st.data())
def test_gradients_on_random_coordinates_of_larger_cells(prob, data):
    x, h0, p, mask, W = prob
    f = lambda: float(np.sum(W * gru.forward(x, h0, p, mask)[0]))
    dx, dh0, grads = gru.backward(W, gru.forward(x, h0, p, mask)[1])
    for name, arr, g in [(k, p[k], grads[k]) for k in gru.NAMES] + [("x", x, dx), ("h0", h0, dh0)]:
        coords = data.draw(st.lists(st.integers(0, arr.size - 1), min_size=1, max_size=6, unique=True))
        assert_grad(f, arr, g, coords=coords, name=name)


@given(problems(max_T=6, max_B=4))
def test_masked_steps_keep_the_state_exactly(prob):
    x, h0, p, mask, W = prob
    mask = np.zeros(x.shape[:2]) if mask is None else mask
    hs, cache = gru.forward(x, h0, p, mask)
    prev = np.concatenate([h0[None], hs[:-1]])
    held = mask == 0
    np.testing.assert_array_equal(hs[held], prev[held])
    dx, _, _ = gru.backward(W, cache)
    assert np.all(dx[held] == 0)


@given(problems())
def test_no_mask_equals_all_ones_mask(prob):
    x, h0, p, _, _ = prob
    a, _ = gru.forward(x, h0, p, None)
    b, _ = gru.forward(x, h0, p, np.ones(x.shape[:2]))
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


@given(problems())
def test_saturated_update_gate_keeps_the_state_exactly(prob):
    x, h0, p, mask, W = prob
    H = h0.shape[1]
    p["bias_ih_l0"][H:2 * H] = 1e3          # z = σ(≥ 1e3 − O(10)) = 1.0 exactly in float64
    hs, cache = gru.forward(x, h0, p, mask)
    np.testing.assert_array_equal(hs, np.broadcast_to(h0, hs.shape))
    dx, dh0, grads = gru.backward(W, cache)
    assert np.all(dx == 0) and all(np.all(g == 0) for g in grads.values())
    np.testing.assert_allclose(dh0, W.sum(0), rtol=1e-14, atol=1e-14)


@given(problems(max_T=5, max_B=4), st.integers(1, 4), st.integers(0, 2 ** 32 - 1))
def test_trailing_padding_changes_nothing(prob, n_pad, seed):
    x, h0, p, mask, W = prob
    T, B, E = x.shape
    mask = np.ones((T, B)) if mask is None else mask
    rng = np.random.default_rng(seed)
    x_pad = np.concatenate([x, 10 * rng.standard_normal((n_pad, B, E))])
    m_pad = np.concatenate([mask, np.zeros((n_pad, B))])
    hs, c = gru.forward(x, h0, p, mask)
    hs_pad, c_pad = gru.forward(x_pad, h0, p, m_pad)
    np.testing.assert_array_equal(hs_pad[:T], hs)
    np.testing.assert_array_equal(hs_pad[T:], np.broadcast_to(hs[-1], hs_pad[T:].shape))
    # A loss on the final state only: the gradients are the same with or without the padding.
    Wf = W[-1]
    d = np.zeros_like(hs); d[-1] = Wf
    d_pad = np.zeros_like(hs_pad); d_pad[-1] = Wf
    dx, dh0, g = gru.backward(d, c)
    dx_pad, dh0_pad, g_pad = gru.backward(d_pad, c_pad)
    np.testing.assert_allclose(dx_pad[:T], dx, rtol=1e-13, atol=1e-15)
    assert np.all(dx_pad[T:] == 0)
    np.testing.assert_allclose(dh0_pad, dh0, rtol=1e-13, atol=1e-15)
    for k in gru.NAMES:
        np.testing.assert_allclose(g_pad[k], g[k], rtol=1e-13, atol=1e-15, err_msg=k)


@given(problems(max_T=6, max_B=4), st.data())
def test_prefix_mask_gives_each_sequence_its_own_final_state(prob, data):
    x, h0, p, _, _ = prob
    T, B, _ = x.shape
    lengths = np.array(data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B)))
    mask = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)
    hs, _ = gru.forward(x, h0, p, mask)
    for b, L in enumerate(lengths):
        alone = gru.forward(x[:L, b:b + 1], h0[b:b + 1], p)[0][-1, 0] if L else h0[b]
        np.testing.assert_allclose(hs[-1, b], alone, rtol=1e-13, atol=1e-15)

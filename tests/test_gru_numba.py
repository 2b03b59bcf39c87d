"""The Numba fast path against the NumPy reference (seq2seq.py in float64 on the same float32 parameters).

Tolerances: the fast path is float32 with rational tanh/sigmoid (abs error ≤ 2.6e-7), so values and gradients
must agree to float32 accuracy: 2e-4 of each array's largest magnitude. Training trajectories (100 AdamW steps)
against the float32 NumPy path; determinism bit-for-bit for a fixed thread count.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onionref import adamw
from onionref.onion import seq2seq
from onionref.cells import gru_numba as gn
from onionref.tasks.repeat import make_batch, vocab_size


@contextmanager
def threads(n):
    """Run the fast path on n threads (= n batch chunks) inside the block."""
    old = gn.get_threads()
    gn.set_threads(n)
    try:
        yield
    finally:
        gn.set_threads(old)


def _problem(seed, H, n_symbols, no_input, B, T):
    rng = np.random.default_rng(seed)
    params = seq2seq.init_params(H, n_symbols, vocab_size(n_symbols, no_input), rng)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T  # the batch's T is its longest sequence
    tokens = rng.integers(0, n_symbols, size=(B, T))
    return params, make_batch(tokens, lengths, n_symbols, no_input), rng


def _f64(params):
    return {k: v.astype(np.float64) for k, v in params.items()}


def _close(got, want, what, rel=2e-4):
    scale = max(float(np.abs(want).max()), 1e-3)
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * scale, err_msg=what)


shapes = dict(seed=st.integers(0, 2**31), H=st.integers(1, 12), n_symbols=st.integers(2, 7), no_input=st.booleans(),
              B=st.integers(1, 9), T=st.integers(1, 6), n_threads=st.integers(1, 3))


@settings(max_examples=40, deadline=None)
@given(**shapes)
def test_loss_and_grads_match_reference(seed, H, n_symbols, no_input, B, T, n_threads):
    params, batch, _ = _problem(seed, H, n_symbols, no_input, B, T)
    with threads(n_threads):  # chunk counts that do not divide B included
        loss, grads, logits = gn.loss_and_grads(params, batch)
        predicted = gn.predict(params, batch)
    loss_r, grads_r, logits_r = seq2seq.loss_and_grads(_f64(params), batch)
    assert set(grads) == set(params)
    _close(logits, logits_r, "logits")
    assert abs(loss - loss_r) <= 2e-5 * max(1.0, abs(loss_r))
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == np.float32
        _close(grads[k], grads_r[k], k)
    _close(predicted, logits_r, "predict")


@settings(max_examples=25, deadline=None)
@given(**shapes)
def test_encode_and_decode_match_reference(seed, H, n_symbols, no_input, B, T, n_threads):
    with threads(n_threads):
        _check_encode_and_decode(*_problem(seed, H, n_symbols, no_input, B, T))


def _check_encode_and_decode(params, batch, rng):
    p64 = _f64(params)
    h = gn.encode(params, batch.enc_in, batch.mask)
    h_r, _ = seq2seq.encode_forward(p64, batch.enc_in, batch.mask)
    _close(h, h_r, "h_enc")
    h0 = rng.standard_normal(h.shape).astype(np.float32)
    logits, cache = gn.decode_forward(params, h0, batch.dec_in)
    logits_r, cache_r = seq2seq.decode_forward(p64, h0.astype(np.float64), batch.dec_in)
    _close(logits, logits_r, "decode logits")
    dlogits = rng.standard_normal(logits.shape).astype(np.float32)
    dh0_r, grads_r = seq2seq.decode_backward(dlogits.astype(np.float64), cache_r)
    dh0_only, none = gn.decode_backward(dlogits, cache, need_param_grads=False)
    assert none == {}
    _close(dh0_only, dh0_r, "dh0 without weight gradients")
    dh0, grads = gn.decode_backward(dlogits, cache)
    _close(dh0, dh0_r, "dh0")
    assert set(grads) == set(grads_r)
    for k in grads_r:
        _close(grads[k], grads_r[k], "decode " + k)


@settings(max_examples=30, deadline=None)
@given(**shapes, param_grads=st.booleans())
def test_fused_decode_loss_matches_reference(seed, H, n_symbols, no_input, B, T, n_threads, param_grads):
    """decode_loss (decode + cross-entropy + backward in one call) against the reference decode, loss and backward."""
    params, batch, rng = _problem(seed, H, n_symbols, no_input, B, T)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    with threads(n_threads):
        loss, dh0, logits, grads, correct = gn.decode_loss(gn.Weights.of(params), h0, batch.dec_in, batch.target,
                                                           batch.mask, param_grads)
    logits_r, cache_r = seq2seq.decode_forward(_f64(params), h0.astype(np.float64), batch.dec_in)
    loss_r, dlogits_r = seq2seq.cross_entropy(logits_r, batch.target, batch.mask)
    dh0_r, grads_r = seq2seq.decode_backward(dlogits_r, cache_r)
    _close(logits[batch.mask], logits_r[batch.mask], "logits")  # the masked ones carry no loss and are skipped
    np.testing.assert_array_equal(correct, seq2seq.exact_match(logits, batch.target, batch.mask))
    with threads(n_threads):  # without the logits: the same numbers, bit for bit
        lean = gn.decode_loss(gn.Weights.of(params), h0, batch.dec_in, batch.target, batch.mask, param_grads,
                              with_logits=False)
    assert lean[0] == loss and lean[2] is None
    np.testing.assert_array_equal(lean[1], dh0)
    np.testing.assert_array_equal(lean[4], correct)
    assert abs(loss - loss_r) <= 2e-5 * max(1.0, abs(loss_r))
    _close(dh0, dh0_r, "dh0")
    assert set(grads) == (set(grads_r) if param_grads else set())
    for k in grads:
        _close(grads[k], grads_r[k], "decode_loss " + k)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), T=st.integers(1, 6), B=st.integers(1, 9), C=st.integers(2, 7))
def test_cross_entropy_matches_reference(seed, T, B, C):
    rng = np.random.default_rng(seed)
    logits = (3 * rng.standard_normal((T, B, C))).astype(np.float32)
    target, mask = rng.integers(0, C, (T, B)), rng.random((T, B)) < 0.7
    loss, dlogits = gn.cross_entropy(logits, target, mask)
    loss_r, dlogits_r = seq2seq.cross_entropy(logits.astype(np.float64), target, mask)
    assert abs(loss - loss_r) <= 2e-6 * max(1.0, abs(loss_r))
    _close(dlogits, dlogits_r, "dlogits")


def test_decode_cache_survives_other_calls():
    """decode_forward's cache owns its buffers: later calls (which reuse workspaces) must not clobber it."""
    params, batch, rng = _problem(3, 8, 5, False, 6, 4)
    h0 = rng.standard_normal((6, 8)).astype(np.float32)
    _, cache = gn.decode_forward(params, h0, batch.dec_in)
    dlogits = rng.standard_normal((4, 6, 5)).astype(np.float32)
    before = gn.decode_backward(dlogits, cache)[0].copy()
    gn.loss_and_grads(params, batch)
    gn.decode_forward(params, -h0, batch.dec_in)
    np.testing.assert_array_equal(gn.decode_backward(dlogits, cache)[0], before)


def test_bad_ids_and_shapes_raise_instead_of_reading_out_of_bounds():
    """The kernels index without bounds checks, so the Python entry points check ids and shapes."""
    params, batch, rng = _problem(5, 6, 4, False, 5, 3)
    bad_enc = batch.enc_in.copy()
    bad_enc[0, 0] = 99
    with pytest.raises(ValueError, match="encoder input"):
        gn.encode(params, bad_enc, batch.mask)
    bad_target = batch.target.copy()
    bad_target[1, 2] = -1
    with pytest.raises(ValueError, match="target"):
        gn.loss_and_grads(params, replace(batch, target=bad_target))
    with pytest.raises(ValueError, match="h0"):
        gn.decode_forward(params, np.zeros((4, 6), np.float32), batch.dec_in)
    _, cache = gn.decode_forward(params, np.zeros((5, 6), np.float32), batch.dec_in)
    with pytest.raises(ValueError, match="dlogits"):
        gn.decode_backward(np.zeros((3, 5, 3), np.float32), cache)


def _train(loss_and_grads, steps, H=16, seed=0):
    """`steps` AdamW steps (lr 1e-2, so that 100 steps learn something) on random repeat-task batches (batch 64,
    lengths 2..9); returns (losses, params)."""
    rng = np.random.default_rng(seed)
    params = seq2seq.init_params(H, 30, vocab_size(30, False), rng)
    opt, cfg = adamw.init_state(params), adamw.AdamWConfig(lr=1e-2)
    losses = []
    for _ in range(steps):
        lengths = rng.integers(2, 10, size=64)
        batch = make_batch(rng.integers(0, 30, size=(64, 9)), lengths)
        loss, grads, _ = loss_and_grads(params, batch)
        adamw.step(params, grads, opt, cfg)
        losses.append(loss)
    return np.array(losses), params


def test_training_trajectory_matches_numpy():
    with threads(2):
        losses, params = _train(gn.loss_and_grads, 100)
    losses_r, params_r = _train(seq2seq.loss_and_grads, 100)
    assert losses[-1] < losses[0] - 0.3  # it learns something (3.44 -> 2.99 when written)
    np.testing.assert_allclose(losses, losses_r, rtol=0, atol=2e-5)  # 4e-7 when written
    for k in params:
        np.testing.assert_allclose(params[k], params_r[k], rtol=0, atol=2e-5, err_msg=k)  # 6e-7 when written


def test_bit_identical_runs():
    with threads(2):
        l1, p1 = _train(gn.loss_and_grads, 50, seed=7)
        l2, p2 = _train(gn.loss_and_grads, 50, seed=7)
    np.testing.assert_array_equal(l1, l2)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k], err_msg=k)


def test_stale_numba_cache_is_dropped_when_a_dependency_changes(tmp_path, monkeypatch):
    """A cached kernel that inlines a function from another file must recompile after that file changes."""
    import importlib
    import sys

    from onionref.jit.cache import drop_stale_cache

    (tmp_path / "dep_mod.py").write_text("from numba import njit\n@njit\ndef f(x):\n    return x + 1\n")
    (tmp_path / "use_mod.py").write_text("from numba import njit\nfrom dep_mod import f\n"
                                         "@njit(cache=True)\ndef g(x):\n    return f(x) * 10\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def fresh():
        for name in ("dep_mod", "use_mod"):
            sys.modules.pop(name, None)
        dep, use = importlib.import_module("dep_mod"), importlib.import_module("use_mod")
        return [dep, use], use

    mods, use = fresh()
    assert drop_stale_cache(mods)          # no stamp yet
    assert use.g(1) == 20                  # compiled and cached
    mods, use = fresh()
    assert not drop_stale_cache(mods)      # unchanged sources: the cache stays
    assert use.g(1) == 20
    (tmp_path / "dep_mod.py").write_text("from numba import njit\n@njit\ndef f(x):\n    return x + 2\n")
    mods, use = fresh()
    assert drop_stale_cache(mods)          # only the dependency changed, yet the cache is dropped
    assert use.g(1) == 30                  # Numba alone would have loaded the stale g (= 20)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), C=st.integers(1, 6), n=st.integers(1, 40))
def test_argmax_columns_takes_the_first_maximum(seed, C, n):
    """head_numba.argmax_columns = np.argmax over classes, ties included (small integer logits tie often)."""
    from onionref.cells.head_numba import argmax_columns
    lt = np.random.default_rng(seed).integers(-2, 3, (C, n)).astype(np.float32)
    best = np.empty(n, np.int64)
    argmax_columns(lt, best)
    np.testing.assert_array_equal(best, lt.argmax(axis=0))

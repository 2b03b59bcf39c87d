"""The Numba fast path of the non-GRU cells (cells/seq_numba.py with lstm_numba, elman_numba, alrnn_numba_seq)
against the NumPy reference (seq2seq.py in float64 on the same float32 parameters).

Tolerances as tests/test_gru_numba.py's: float32 with rational tanh/sigmoid, so values and gradients agree to
2e-4 of each array's largest magnitude. Cells: LSTM, Elman tanh and relu, linear, AL-RNN with P = 0, 1 and H; odd
batch sizes and lengths, both decoder variants, 1–3 threads. Determinism: the same inputs and thread count give
bit-identical results twice; 1 and 2 threads agree only within tolerance (the chunk sums are grouped differently).
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onionref.cells import choice, seq_numba as sn
from onionref.jit.threads import get_threads, set_threads
from onionref.onion import seq2seq
from onionref.tasks.repeat import make_batch, vocab_size

CELLS = ["lstm", "elman-tanh", "elman-relu", "linear", "alrnn-0", "alrnn-1", "alrnn-H"]


def _cell(name: str, H: int):
    if name.startswith("alrnn"):
        P = name.split("-")[1]
        return choice.cell_of("alrnn", P=H if P == "H" else min(int(P), H))
    if name.startswith("elman"):
        return choice.cell_of("elman", name.split("-")[1])
    return choice.cell_of(name)


@contextmanager
def threads(n):
    old = get_threads()
    set_threads(n)
    try:
        yield
    finally:
        set_threads(old)


def _problem(name, seed, H, n_symbols, no_input, B, T):
    rng = np.random.default_rng(seed)
    cell = _cell(name, H)
    params = seq2seq.init_params(H, n_symbols, vocab_size(n_symbols, no_input), rng, cell=cell)
    pre = seq2seq.cell_prefix(cell)
    if name.startswith("alrnn"):   # the spec's init is tiny (N(0, 0.01²)): give the recurrence something to carry
        params = {k: (rng.uniform(-0.6, 0.6, v.shape).astype(np.float32) if k.startswith(pre) else v)
                  for k, v in params.items()}
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T
    tokens = rng.integers(0, n_symbols, size=(B, T))
    return cell, params, make_batch(tokens, lengths, n_symbols, no_input), rng


def _f64(params):
    return {k: v.astype(np.float64) for k, v in params.items()}


def _close(got, want, what, rel=2e-4):
    scale = max(float(np.abs(want).max(initial=0)), 1e-3)
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * scale, err_msg=what)


def _step_matches_reference(params, batch, cell):
    """One training step's loss, logits and gradients on the fast path against seq2seq's in float64."""
    loss, grads, logits = sn.loss_and_grads(params, batch, cell)
    loss_r, grads_r, logits_r = seq2seq.loss_and_grads(_f64(params), batch, cell)
    assert abs(loss - loss_r) <= 2e-5 * max(1.0, abs(loss_r))
    _close(logits, logits_r, "logits")
    for k in params:
        _close(grads[k], grads_r[k], k)


shapes = dict(name=st.sampled_from(CELLS), seed=st.integers(0, 2**31), H=st.integers(1, 10),
              n_symbols=st.integers(2, 7), no_input=st.booleans(), B=st.integers(1, 9), T=st.integers(1, 6),
              n_threads=st.integers(1, 3))


@settings(max_examples=60, deadline=None)
@given(**shapes)
def test_loss_grads_and_logits_match_reference(name, seed, H, n_symbols, no_input, B, T, n_threads):
    cell, params, batch, _ = _problem(name, seed, H, n_symbols, no_input, B, T)
    with threads(n_threads):   # chunk counts that do not divide B included
        loss, grads, logits = sn.loss_and_grads(params, batch, cell)
        predicted = sn.predict(params, batch, cell)
    loss_r, grads_r, logits_r = seq2seq.loss_and_grads(_f64(params), batch, cell)
    assert set(grads) == set(params)
    _close(logits, logits_r, "logits")
    _close(predicted, logits_r, "predict")
    assert abs(loss - loss_r) <= 2e-5 * max(1.0, abs(loss_r))
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == np.float32, k
        _close(grads[k], grads_r[k], k)


@settings(max_examples=30, deadline=None)
@given(**shapes)
def test_the_training_loops_step_without_logits_is_the_same(name, seed, H, n_symbols, no_input, B, T, n_threads):
    """with_logits=False (backends.loss_and_grads_fn's): the decoder holds finished rows; loss and gradients agree."""
    cell, params, batch, _ = _problem(name, seed, H, n_symbols, no_input, B, T)
    with threads(n_threads):
        loss, grads, _ = sn.loss_and_grads(params, batch, cell)
        loss_h, grads_h, logits_h = sn.loss_and_grads(params, batch, cell, with_logits=False)
    assert logits_h is None and abs(loss_h - loss) <= 1e-6 * max(1.0, abs(loss))
    for k in params:
        _close(grads_h[k], grads[k], k, rel=1e-5)


@settings(max_examples=30, deadline=None)
@given(**shapes)
def test_encode_and_decode_match_reference(name, seed, H, n_symbols, no_input, B, T, n_threads):
    cell, params, batch, rng = _problem(name, seed, H, n_symbols, no_input, B, T)
    p64 = _f64(params)
    with threads(n_threads):
        s = sn.encode(params, batch.enc_in, batch.mask, cell)
        s_r, _ = seq2seq.encode_forward(p64, batch.enc_in, batch.mask, cell)
        _close(s, s_r, "encode")
        s0 = rng.standard_normal(s.shape).astype(np.float32)     # an edited state, as stage 2 decodes
        logits, cache = sn.decode_forward(params, s0, batch.dec_in, cell)
        logits_r, cache_r = seq2seq.decode_forward(p64, s0.astype(np.float64), batch.dec_in, cell)
        _close(logits, logits_r, "decode_forward")
        dlogits = rng.standard_normal(logits.shape).astype(np.float32)
        ds0, grads = sn.decode_backward(dlogits, cache)
        ds0_r, grads_r = seq2seq.decode_backward(dlogits.astype(np.float64), cache_r, cell)
        _close(ds0, ds0_r, "decode_backward ds0")
        for k in grads_r:
            _close(grads[k], grads_r[k], f"decode_backward {k}")
        assert sn.decode_backward(dlogits, cache, need_param_grads=False)[1] == {}
        loss, ds0, lg, g, correct = sn.decode_loss(params, s0, batch.dec_in, batch.target, batch.mask, cell,
                                                   param_grads=True)
    loss_r, dl_r = seq2seq.cross_entropy(logits_r, batch.target, batch.mask)
    ds0_r, grads_r = seq2seq.decode_backward(dl_r, cache_r, cell)
    assert abs(loss - loss_r) <= 2e-5 * max(1.0, abs(loss_r))
    _close(lg[batch.mask], logits_r[batch.mask], "decode_loss logits")   # finished rows are held past their end
    _close(ds0, ds0_r, "decode_loss ds0")
    for k in grads_r:
        _close(g[k], grads_r[k], f"decode_loss {k}")
    np.testing.assert_array_equal(correct, seq2seq.exact_match(lg, batch.target, batch.mask))


@pytest.mark.parametrize("name", CELLS)
def test_same_thread_count_is_bit_identical_and_thread_counts_agree(name):
    cell, params, batch, _ = _problem(name, 7, 16, 11, False, 37, 7)   # odd batch: chunks of unequal size
    out = {}
    for n in (1, 2, 2, 1):
        with threads(n):
            loss, grads, logits = sn.loss_and_grads(params, batch, cell)
        res = (loss, {k: v.copy() for k, v in grads.items()}, logits.copy())
        if n in out:   # bit-for-bit for the same thread count
            assert res[0] == out[n][0]
            for k in params:
                np.testing.assert_array_equal(res[1][k], out[n][1][k], err_msg=k)
            np.testing.assert_array_equal(res[2], out[n][2])
        out[n] = res
    assert abs(out[1][0] - out[2][0]) <= 1e-6 * max(1.0, abs(out[1][0]))   # across thread counts: tolerance only
    for k in params:
        _close(out[2][1][k], out[1][1][k], k, rel=1e-5)


def test_lookup_batches_use_their_own_loss_mask():
    """A batch whose loss mask is not the encoder's (tasks/lookup.py: one output step) trains like seq2seq's."""
    from onionref.tasks import access
    cell = choice.cell_of("lstm")
    rng = np.random.default_rng(3)
    V = access.vocab("lookup", 6, False, 5)
    params = seq2seq.init_params(6, 6, V, rng, cell=cell)
    lengths = rng.integers(1, 6, size=11)
    batch = access.batch("lookup", rng.integers(0, 6, size=(11, 5)), lengths, 6, False,
                         rng.integers(0, lengths))
    _step_matches_reference(params, batch, cell)


def test_bad_ids_and_shapes_are_refused():
    cell, params, batch, _ = _problem("elman-tanh", 0, 4, 5, False, 3, 4)
    bad = batch.enc_in.copy()
    bad[0, 0] = 99
    with pytest.raises(ValueError, match="encoder input"):
        sn.encode(params, bad, batch.mask, cell)
    with pytest.raises(ValueError, match="initial state"):
        sn.decode_forward(params, np.zeros((3, 5), np.float32), batch.dec_in, cell)


def test_only_the_gru_has_no_fast_path_here():
    assert sn.fast_cell(choice.cell_of("gru")) is None
    for name in CELLS:
        assert sn.fast_cell(_cell(name, 4)) is not None


@pytest.mark.parametrize("name", ["lstm", "elman-tanh", "alrnn-H"])
def test_the_training_shape_matches_reference(name):
    """H 48, batch 256, lengths 2..9: the shapes where the LSTM's step product is split in row blocks
    (jit/blas.gemm_rows) and every chunk skips its finished rows."""
    rng = np.random.default_rng(11)
    cell = _cell(name, 48)
    params = seq2seq.init_params(48, 30, vocab_size(30, False), rng, cell=cell)
    lengths = rng.integers(2, 10, size=256)
    batch = make_batch(rng.integers(0, 30, size=(256, 9)), lengths, 30, False)
    for n in (1, 2):
        with threads(n):
            _step_matches_reference(params, batch, cell)


@pytest.mark.parametrize("flags", [["--cell", "lstm"], ["--cell", "alrnn", "--P", "3"]])
def test_a_numba_training_run_is_bit_identical_twice(tmp_path, monkeypatch, flags):
    """`onionref train` on the fast path (its default backend for every cell), twice with the same seed and thread
    count: the same weights, byte for byte."""
    from onionref.cli import main
    from runhelpers import no_plots, train_args
    no_plots(monkeypatch)
    for d in ("a", "b"):
        assert main(train_args(tmp_path / d, steps=12, eval_every=6, backend="numba") + flags) == 0
    a, b = ((tmp_path / d / "weights.safetensors").read_bytes() for d in ("a", "b"))
    assert a == b
    import json
    assert json.loads((tmp_path / "a" / "config.json").read_text())["config"]["backend"] == "numba"

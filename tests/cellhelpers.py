"""Shared checks of the repeat model with any cell (tests/test_seq2seq_cells.py, test_seq2seq_alrnn_linear.py):
a small float64 problem, and the whole model's gradients and the decoder's initial-state gradient against centred
differences (gradcheck.assert_grad)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradcheck import assert_grad
from onionref.onion import seq2seq
from onionref.tasks.repeat import make_batch, vocab_size


def model_problem(draw, cell, H: int, max_symbols: int, max_B: int, max_L: int, cell_values):
    """(cell, params float64, batch): a model with `cell` and hidden size H, its cell parameters replaced by
    cell_values(rng, v) (off-centre gates, ReLUs on both sides of their kink), and a mixed-length batch."""
    n_symbols = draw(st.integers(2, max_symbols))
    no_input = draw(st.booleans())
    lengths = np.array(draw(st.lists(st.integers(1, max_L), min_size=1, max_size=max_B)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    params = seq2seq.init_params(H, n_symbols, vocab_size(n_symbols, no_input), rng, np.float64, cell=cell)
    pre = seq2seq.cell_prefix(cell)
    params = {k: (cell_values(rng, v) if k.startswith(pre) else v) for k, v in params.items()}
    tokens = rng.integers(0, n_symbols, size=(len(lengths), max_L))
    return cell, params, make_batch(tokens, lengths, n_symbols, no_input)


def forward_loss(params, batch, cell) -> float:
    return seq2seq.cross_entropy(seq2seq.predict(params, batch, cell), batch.target, batch.mask)[0]


def check_whole_model_gradients(cell, params, batch):
    """loss_and_grads: one gradient per parameter, float64, each against centred differences of the loss."""
    loss, grads, logits = seq2seq.loss_and_grads(params, batch, cell)
    assert set(grads) == set(params)
    assert loss == forward_loss(params, batch, cell)
    np.testing.assert_array_equal(logits, seq2seq.predict(params, batch, cell))
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == np.float64
        if params[k].size:                        # (the AL-RNN's A is empty at P = 0)
            assert_grad(lambda: forward_loss(params, batch, cell), params[k], grads[k], name=f"{cell} {k}")


def check_decoder_state_gradient(cell, params, batch):
    """d loss / d s0 of the decoder over the whole state s0 [B, S] (the LSTM's [h; c])."""
    H = params["head.weight"].shape[1]
    s0 = np.random.default_rng(0).uniform(-1, 1, size=(batch.enc_in.shape[1], cell.state_size(H)))
    f = lambda: seq2seq.cross_entropy(seq2seq.decode_forward(params, s0, batch.dec_in, cell)[0],
                                      batch.target, batch.mask)[0]
    logits, cache = seq2seq.decode_forward(params, s0, batch.dec_in, cell)
    ds0, _ = seq2seq.decode_backward(seq2seq.cross_entropy(logits, batch.target, batch.mask)[1], cache, cell)
    assert ds0.shape == s0.shape
    assert_grad(f, s0, ds0, name=f"{cell} s0")

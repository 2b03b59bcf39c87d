"""The seq2seq model (seq2seq.py): finite differences of the loss, padding invariance, exact-match semantics.

- the whole loss w.r.t. every coordinate of every parameter (both decoder variants, mixed lengths incl. 1);
- cross_entropy w.r.t. the logits, and its value against the direct formula −mean_{t<L} log softmax(z)[y];
- decode: the loss w.r.t. the decoder's initial state (the gradient handed to the encoder);
- padding: extra masked time steps, garbage past a length, or a longer sequence in the batch never change a
  sequence's loss, its encoder state or (for masked steps) any gradient;
- exact_match: one wrong argmax at t < L fails that sequence only; wrong argmaxes at t ≥ L do not matter.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from gradcheck import assert_grad, rel_err
from onionref.onion import seq2seq
from onionref.tasks.repeat import Batch, make_batch, vocab_size


@st.composite
def problems(draw, max_H=4, max_symbols=5, max_B=3, max_L=4):
    """(params float64, batch, no_input) for a small model and a mixed-length batch."""
    H, n_symbols = draw(st.integers(1, max_H)), draw(st.integers(2, max_symbols))
    no_input = draw(st.booleans())
    lengths = np.array(draw(st.lists(st.integers(1, max_L), min_size=1, max_size=max_B)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    params = seq2seq.init_params(H, n_symbols, vocab_size(n_symbols, no_input), rng, np.float64)
    params = {k: (2.0 * v if k.startswith("gru.") else v) for k, v in params.items()}   # gates off-centre
    tokens = rng.integers(0, n_symbols, size=(len(lengths), max_L))
    return params, make_batch(tokens, lengths, n_symbols, no_input), no_input


def forward_loss(params, batch) -> float:
    return seq2seq.cross_entropy(seq2seq.predict(params, batch), batch.target, batch.mask)[0]


@settings(max_examples=25)
@given(problems())
def test_loss_gradients_match_finite_differences(prob):
    params, batch, _ = prob
    loss, grads, logits = seq2seq.loss_and_grads(params, batch)
    assert set(grads) == set(params)
    assert loss == forward_loss(params, batch)
    np.testing.assert_array_equal(logits, seq2seq.predict(params, batch))
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == np.float64
        assert_grad(lambda: forward_loss(params, batch), params[k], grads[k], name=k)


@settings(max_examples=8)
@given(problems(max_H=12, max_symbols=30, max_B=6, max_L=9), st.data())
def test_loss_gradients_on_random_coordinates_of_larger_models(prob, data):
    params, batch, _ = prob
    _, grads, _ = seq2seq.loss_and_grads(params, batch)
    for k in params:
        coords = data.draw(st.lists(st.integers(0, params[k].size - 1), min_size=1, max_size=5, unique=True))
        assert_grad(lambda: forward_loss(params, batch), params[k], grads[k], coords=coords, name=k)


@st.composite
def logit_problems(draw):
    T, B, C = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    logits = draw(st.sampled_from([0.1, 1.0, 10.0])) * rng.standard_normal((T, B, C))
    target = rng.integers(0, C, size=(T, B))
    mask = rng.random((T, B)) < 0.7
    return logits, target, mask


@given(logit_problems())
def test_cross_entropy_value_and_gradient(prob):
    logits, target, mask = prob
    loss, dlogits = seq2seq.cross_entropy(logits, target, mask)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, target[..., None], -1)[..., 0]
    expected = -picked[mask].mean() if mask.any() else 0.0
    assert abs(loss - expected) <= 1e-12 * max(1.0, abs(expected))
    assert np.all(dlogits[~mask] == 0)
    assert_grad(lambda: seq2seq.cross_entropy(logits, target, mask)[0], logits, dlogits, name="logits")


@given(problems(max_H=5))
def test_decoder_initial_state_gradient(prob):
    params, batch, _ = prob
    rng = np.random.default_rng(0)
    h0 = rng.uniform(-1, 1, size=(batch.enc_in.shape[1], params["embedding.weight"].shape[1]))
    f = lambda: seq2seq.cross_entropy(seq2seq.decode_forward(params, h0, batch.dec_in)[0],
                                      batch.target, batch.mask)[0]
    logits, cache = seq2seq.decode_forward(params, h0, batch.dec_in)
    dh0, _ = seq2seq.decode_backward(seq2seq.cross_entropy(logits, batch.target, batch.mask)[1], cache)
    assert_grad(f, h0, dh0, name="h0")


def pad_time(batch: Batch, n_pad: int, rng, vocab: int) -> Batch:
    """The same batch with n_pad extra time steps: random tokens, mask False, lengths unchanged."""
    extra = lambda a: np.concatenate([a, rng.integers(0, vocab, size=(n_pad,) + a.shape[1:])])
    return Batch(enc_in=extra(batch.enc_in), dec_in=extra(batch.dec_in), target=extra(batch.target),
                 lengths=batch.lengths, mask=np.concatenate([batch.mask, np.zeros((n_pad,) + batch.mask.shape[1:],
                                                                                  dtype=bool)]))


@given(problems(), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_extra_masked_time_steps_change_nothing(prob, n_pad, seed):
    params, batch, _ = prob
    rng = np.random.default_rng(seed)
    C = params["head.weight"].shape[0]
    padded = pad_time(batch, n_pad, rng, C)
    loss, grads, logits = seq2seq.loss_and_grads(params, batch)
    loss_p, grads_p, logits_p = seq2seq.loss_and_grads(params, padded)
    assert abs(loss_p - loss) <= 1e-14 * abs(loss)
    np.testing.assert_allclose(logits_p[:len(logits)], logits, rtol=1e-13, atol=1e-15)
    h, _ = seq2seq.encode_forward(params, batch.enc_in, batch.mask)
    h_p, _ = seq2seq.encode_forward(params, padded.enc_in, padded.mask)
    np.testing.assert_array_equal(h_p, h)
    for k in grads:
        np.testing.assert_allclose(grads_p[k], grads[k], rtol=1e-12, atol=1e-15, err_msg=k)


@given(problems(), st.integers(1, 4), st.integers(0, 2 ** 32 - 1))
def test_garbage_past_the_length_and_a_longer_neighbour_change_nothing(prob, extra_len, seed):
    params, batch, no_input = prob
    n_symbols = params["head.weight"].shape[0]
    rng = np.random.default_rng(seed)
    B, T = len(batch.lengths), batch.enc_in.shape[0]
    tokens = batch.enc_in.T.copy()
    # Wider token matrix with garbage past every length: the batch must not see it.
    wide = np.concatenate([tokens, np.zeros((B, extra_len), dtype=tokens.dtype)], axis=1)
    wide = np.where(np.arange(wide.shape[1]) < batch.lengths[:, None], wide, rng.integers(0, n_symbols, wide.shape))
    same = make_batch(wide, batch.lengths, n_symbols, no_input)
    for k in ("enc_in", "dec_in", "target", "mask", "lengths"):
        np.testing.assert_array_equal(getattr(same, k), getattr(batch, k), err_msg=k)
    # A longer sequence joins the batch: T grows, and every old sequence keeps its state and its own loss.
    newcomer = rng.integers(0, n_symbols, size=(1, wide.shape[1]))
    longer = make_batch(np.concatenate([wide, newcomer]), np.append(batch.lengths, T + extra_len), n_symbols,
                        no_input)
    assert longer.enc_in.shape[0] == T + extra_len
    h, _ = seq2seq.encode_forward(params, batch.enc_in, batch.mask)
    h_l, _ = seq2seq.encode_forward(params, longer.enc_in, longer.mask)
    np.testing.assert_allclose(h_l[:B], h, rtol=1e-13, atol=1e-15)
    lg, lg_l = seq2seq.predict(params, batch), seq2seq.predict(params, longer)
    for b in range(B):
        own = lambda bt, z: seq2seq.cross_entropy(z[:, b:b + 1], bt.target[:, b:b + 1], bt.mask[:, b:b + 1])[0]
        assert rel_err(own(longer, lg_l), own(batch, lg)) <= 1e-13


@st.composite
def match_problems(draw):
    T, B, C = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    lengths = rng.integers(1, T + 1, size=B)
    lengths[rng.integers(B)] = T
    target = rng.integers(0, C, size=(T, B))
    mask = np.arange(T)[:, None] < lengths[None, :]
    logits = rng.standard_normal((T, B, C))
    np.put_along_axis(logits, target[..., None], 5.0 + np.abs(logits).max(), -1)   # argmax = target everywhere
    return logits, target, mask, rng


@given(match_problems())
def test_exact_match_semantics(prob):
    logits, target, mask, rng = prob
    T, B, C = logits.shape
    assert exact_all(logits, target, mask)
    # Wrong predictions past each length do not matter.
    junk = logits.copy()
    junk[~mask] = rng.standard_normal((int((~mask).sum()), C)) * 100
    assert exact_all(junk, target, mask)
    # One wrong position t < L fails that sequence and no other.
    b = int(rng.integers(B))
    t = int(rng.integers(mask[:, b].sum()))
    wrong = junk.copy()
    wrong[t, b, (target[t, b] + 1 + rng.integers(C - 1)) % C] = 1e3
    em = seq2seq.exact_match(wrong, target, mask)
    assert em.dtype == bool and em.shape == (B,)
    assert not em[b] and em[np.arange(B) != b].all()


def exact_all(logits, target, mask) -> bool:
    em = seq2seq.exact_match(logits, target, mask)
    return em.shape == (logits.shape[1],) and bool(em.all())

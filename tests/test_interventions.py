"""The intervention machinery, pinned independently of training (hand-built models, identities, gradients)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handbuilt import OnionModel, SlotModel, onion_intervention_params, slot_linear_params
from onionref.onion.analysis import score
from onionref.onion.interventions import autosegment, corrupt, gumbel
from onionref.onion.interventions.linear import LinearIntervention
from onionref.onion.interventions.onion import OnionIntervention


def _set(n, L, C, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, C, (n, L)), np.full(n, L)


@pytest.mark.parametrize("ngram", [1, 2])
def test_linear_intervention_repairs_slot_model_exactly(ngram):
    model = SlotModel(n_symbols=5, max_len=4)
    meth = LinearIntervention(ngram, max_len=4)
    params, buffers = slot_linear_params(model, meth.n_vars)
    res = score(meth, params, buffers, model, *_set(400, 4, 5, 0))
    assert res["iia"] == 1.0


def test_onion_intervention_repairs_onion_model_exactly():
    model = OnionModel(n_symbols=5, max_len=4)
    params, buffers = onion_intervention_params(model)
    tok, _ = _set(400, 4, 5, 1)
    lengths = np.random.default_rng(2).integers(2, 5, 400)   # mixed lengths, as the onion data
    tok = np.where(np.arange(4)[None] < lengths[:, None], tok, 0)
    res = score(OnionIntervention(), params, buffers, model, tok, lengths)
    assert res["iia"] == 1.0


@pytest.mark.parametrize("ngram", [1, 2])
def test_slot_solution_fails_on_onion_model(ngram):
    model = OnionModel(n_symbols=5, max_len=4)
    meth = LinearIntervention(ngram, max_len=4)
    params, buffers = slot_linear_params(model, meth.n_vars)
    assert score(meth, params, buffers, model, *_set(400, 4, 5, 3))["iia"] < 0.5


def test_onion_solution_fails_on_slot_model():
    model = SlotModel(n_symbols=5, max_len=4)
    params, buffers = onion_intervention_params(model)
    assert score(OnionIntervention(), params, buffers, model, *_set(400, 4, 5, 4))["iia"] < 0.5


def test_onion_without_position_cannot_repair_onion_model():
    # The ablation's scale g + b is the same at every position, so no setting repairs all positions at once.
    model = OnionModel(n_symbols=5, max_len=4)
    params, _ = onion_intervention_params(model)
    params = {k: params[k] for k in ("E", "g", "b")}
    assert score(OnionIntervention("noscale"), params, {}, model, *_set(400, 4, 5, 5))["iia"] < 0.6


def test_free_form_contains_the_onion():
    """onion-free with S[p] = the onion's scale(p) is the onion intervention: it repairs the onion model exactly; and it
    starts where the onion form starts."""
    from onionref.onion.interventions.onion import scale_forward
    model = OnionModel(n_symbols=5, max_len=4)
    params, _ = onion_intervention_params(model)
    free = {"E": params["E"], "S": scale_forward(params, np.arange(4))[0]}
    tok, _ = _set(400, 4, 5, 1)
    lengths = np.random.default_rng(2).integers(2, 5, 400)
    tok = np.where(np.arange(4)[None] < lengths[:, None], tok, 0)
    assert score(OnionIntervention("free", max_len=4), free, {}, model, tok, lengths)["iia"] == 1.0
    free["S"][3] *= 0.5       # a wrong scale at the last position spoils exactly the swaps made there
    per = score(OnionIntervention("free", max_len=4), free, {}, model, tok, lengths)
    assert per["iia"] < 1.0 and per["per_length"][2] == per["per_length"][3] == 1.0 > per["per_length"][4]
    start = OnionIntervention("onion").init(model, np.random.default_rng(0))[0]
    S0 = OnionIntervention("free", max_len=4).init(model, np.random.default_rng(0))[0]["S"]
    assert np.allclose(S0, scale_forward(start, np.arange(4))[0], rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 8), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_autosegment_without_moved_variables_is_identity(H, V, seed):
    rng = np.random.default_rng(seed)
    params, base = autosegment.init(H, V, rng)
    params["X"] = params["X"] + rng.standard_normal((H, H))
    h = rng.standard_normal((6, H))
    other = np.concatenate([h, rng.standard_normal((6, H))])
    out, _, _ = autosegment.forward(params, base, other, np.arange(6, 12), np.zeros((6, V)))
    np.testing.assert_allclose(out, h, atol=1e-12)        # R orthogonal: h Rᵀ R = h
    same, _, _ = autosegment.forward(params, base, h, np.arange(6), (rng.random((6, V)) < 0.5) * 1.0)
    np.testing.assert_allclose(same, h, atol=1e-12)       # source = base: nothing changes


class Recorder:
    """Wraps a hand-built model and keeps the states handed to its decoder."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def decode(self, h0, *a, **k):
        self.seen.append(h0.copy())
        return self.model.decode(h0, *a, **k)


@pytest.mark.parametrize("method", [LinearIntervention(1, max_len=4), LinearIntervention(2, max_len=4),
                                    OnionIntervention("onion"), OnionIntervention("noscale"),
                                    OnionIntervention("free", max_len=4)])
def test_identity_intervention_leaves_decoder_input_unchanged(method, monkeypatch):
    """No position swapped / new token = old token: the decoder sees exactly the original state."""
    from onionref.onion.interventions import linear, onion
    monkeypatch.setattr(linear.corrupt, "unigram_pairs",
                        lambda tok, ln, V, rng, fast=False: (tok.copy(), np.arange(len(ln))[::-1].copy(),
                                                             np.zeros((len(ln), V))))
    monkeypatch.setattr(linear.corrupt, "ngram_window",
                        lambda tok, ln, n, V, C, rng, fast=False: (tok.copy(), tok.copy(), np.zeros((len(ln), V)),
                                                                   None))
    real = corrupt.single_token

    def same_token(tok, ln, C, rng):
        x_t, p, xo, xn = real(tok, ln, C, rng)
        return tok.copy(), p, xo, xo.copy()
    monkeypatch.setattr(onion.corrupt, "single_token", same_token)
    rec = Recorder(OnionModel(n_symbols=5, max_len=4))
    params, buffers = method.init(rec, np.random.default_rng(0))
    params = {k: v.astype(np.float64) for k, v in params.items()}
    if "X" in params:
        params["X"] = params["X"] + np.random.default_rng(1).standard_normal(params["X"].shape)
    tok, ln = _set(32, 4, 5, 6)
    method.forward(params, buffers, rec, tok, ln, np.random.default_rng(2), train=True)
    np.testing.assert_allclose(rec.seen[-1], rec.model.encode(*_enc(tok, ln)), atol=1e-12)


def _enc(tok, ln):
    T = int(ln.max())
    return np.ascontiguousarray(tok[:, :T].T), np.arange(T)[:, None] < ln[None, :]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_corruptions_keep_their_promises(ngram, L, seed):
    rng = np.random.default_rng(seed)
    C, B = 7, 10
    tok, ln = rng.integers(0, C, (B, L)), np.full(B, L)
    inputs, partner, m = corrupt.unigram_pairs(tok, ln, L, rng)
    assert np.all(partner[partner] == np.arange(B))
    # a's partner input holds a's token exactly where a's variable moves; a's own input holds it elsewhere
    for a in range(B):
        src = np.where(m[a] > 0, inputs[partner[a]], inputs[a])
        assert np.array_equal(src, tok[a])
    V = L - ngram + 1
    base, source, mv, p = corrupt.ngram_window(tok, ln, ngram, V, C, rng)
    t = np.arange(L)
    for b in range(B):
        assert np.array_equal(base[b, t != p[b]], tok[b, t != p[b]])          # base differs only at p
        near = np.abs(t - p[b]) <= ngram - 1
        assert np.array_equal(source[b, near], tok[b, near])                   # source keeps the window
        j = np.arange(V)
        assert np.array_equal(mv[b] > 0, (j <= p[b]) & (p[b] <= j + ngram - 1))  # windows holding p move
    x_t, p, xo, xn = corrupt.single_token(tok, ln, C, rng)
    assert np.all(xo == tok[np.arange(B), p])
    keep = np.ones_like(tok, bool)
    keep[np.arange(B), p] = False
    assert np.array_equal(x_t[keep], tok[keep]) and np.all(x_t[np.arange(B), p] == xn)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_mix_is_the_product_with_the_assignment(H, V, B, seed):
    """autosegment._mix (a gather) = m A[:, :V]ᵀ for a one-hot assignment A, channels that keep the base included."""
    rng = np.random.default_rng(seed)
    A = gumbel.one_hot_argmax(rng.standard_normal((H, V + 1)))
    m = (rng.random((B, V)) < 0.5).astype(np.float32)
    np.testing.assert_array_equal(autosegment._mix(m, A), m @ A[:, :V].T)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(2, 9), st.integers(1, 6).map(lambda p: 2 * p), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_fast_corruptions_are_the_numpy_ones(ngram, L, B, ragged, seed):
    """corrupt_numba.py's fills after the same draws: identical arrays (and the same Generator state after)."""
    rng = np.random.default_rng(seed)
    C = 7
    ln = rng.integers(1, L + 1, B) if ragged else np.full(B, L)
    tok = np.where(np.arange(L)[None] < ln[:, None], rng.integers(0, C, (B, L)), 0)
    V = max(L - ngram + 1, 1)
    for fn, args in ((corrupt.unigram_pairs, (tok, ln, L)), (corrupt.ngram_window, (tok, ln, ngram, V, C))):
        r1, r2 = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
        ref, fast = fn(*args, r1), fn(*args, r2, fast=True)
        assert len(ref) == len(fast)
        for a, b in zip(ref, fast):
            assert a.shape == b.shape and a.dtype.kind == b.dtype.kind and np.array_equal(a, b), fn.__name__
        assert r1.random() == r2.random()

"""Finite-difference checks (float64) of every intervention's and probe's hand-derived gradient.

The frozen model is a small random GRU seq2seq in float64; gradients flow from the loss back through its decoder
into the edited state and from there into the analysis parameters. Every trainable parameter is checked except the
Gumbel logits M, whose straight-through gradient is not the gradient of the hard forward pass; it is checked below
against the soft sample it stands for."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from onionref.onion import seq2seq
from onionref.onion.frozen import Frozen
from onionref.onion.interventions import gumbel, rotation
from onionref.onion.interventions.linear import LinearIntervention
from onionref.onion.interventions.onion import OnionIntervention
from onionref.onion.probes.gru_decoder import GruDecoderProbe
from onionref.onion.probes.onion import OnionProbe
from onionref.onion.probes.state_decoder import StateDecoderProbe
from onionref.tasks import access

L = 4
METHODS = [LinearIntervention(1, max_len=L), LinearIntervention(2, max_len=L), LinearIntervention(3, max_len=L),
           LinearIntervention(2, max_len=L, orthogonal_map="cayley"),
           OnionIntervention("onion"), OnionIntervention("noscale"),
           OnionIntervention("free", max_len=L), OnionIntervention("onion", count="end"),
           StateDecoderProbe(1, max_len=L), StateDecoderProbe(2, max_len=L), OnionProbe(), GruDecoderProbe(True),
           GruDecoderProbe(False)]


def _check_against_differences(method, frozen, rng, seed, all_keys: bool = True):
    """A random batch (length L for the linear interventions, 1..L otherwise), the method's parameters perturbed off
    their init, then 3 random coordinates of every parameter (but the Gumbel logits M) against centred differences."""
    B = 6
    tok = rng.integers(0, frozen.n_symbols, (B, L))
    lengths = np.full(B, L) if isinstance(method, LinearIntervention) else rng.integers(1, L + 1, B)
    tok = np.where(np.arange(L)[None] < lengths[:, None], tok, 0)
    params, buffers = method.init(frozen, rng)
    params = {k: v.astype(np.float64) + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}

    def loss(p):
        return method.forward(p, buffers, frozen, tok, lengths, np.random.default_rng(seed + 1), train=True)

    l0, _, cache = loss(params)
    grads = method.backward(cache)
    rounding = 4 * np.finfo(np.float64).eps * abs(l0) / 1e-6    # the centred difference's own error (gradcheck.py)
    if all_keys:
        assert set(grads) == set(params)
    for k in params:
        if k == "M":
            continue
        scale = np.abs(grads[k]).max()
        for _ in range(3):
            i = tuple(rng.integers(0, s) for s in params[k].shape)
            old, e = params[k][i], 1e-6
            params[k][i] = old + e
            lp = loss(params)[0]
            params[k][i] = old - e
            lm = loss(params)[0]
            params[k][i] = old
            assert abs((lp - lm) / (2 * e) - grads[k][i]) <= 1e-5 * max(scale, 1e-8) + rounding, k


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{type(m).__name__}-{list(m.__dict__.values())[0]}")
@settings(max_examples=6, deadline=None)
@given(H=st.integers(3, 7), C=st.integers(3, 6), seed=st.integers(0, 2**31 - 1))
@example(H=4, C=3, seed=1057670)   # a unigram-intervention parameter with gradient ~1e-17: only rounding is left
def test_gradient_matches_finite_differences(method, H, C, seed):
    rng = np.random.default_rng(seed)
    frozen = Frozen(seq2seq.init_params(H, C, C + 1, rng, np.float64), C, False, "numpy")
    _check_against_differences(method, frozen, rng, seed)

TASK_METHODS = [LinearIntervention(1, max_len=L), LinearIntervention(2, max_len=L), OnionIntervention("onion"),
                OnionIntervention("free", max_len=L), OnionIntervention("onion", count="end")]


@pytest.mark.parametrize("task", ["reverse", "lookup"])
@pytest.mark.parametrize("method", TASK_METHODS, ids=lambda m: f"{type(m).__name__}-{list(m.__dict__.values())[0]}")
@settings(max_examples=3, deadline=None)
@given(H=st.integers(3, 7), C=st.integers(3, 6), seed=st.integers(0, 2**31 - 1))
def test_gradient_matches_finite_differences_for_other_tasks(task, method, H, C, seed):
    """The interventions on a model of another task (issue 21): the decode and its target follow the task (lookup: a
    one-step decoder fed the query's position token), the gradient still flows back into the edited state."""
    rng = np.random.default_rng(seed)
    frozen = Frozen(seq2seq.init_params(H, C, access.vocab(task, C, False, L), rng, np.float64), C, False, "numpy",
                    task)
    _check_against_differences(method, frozen, rng, seed, all_keys=False)

@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.floats(0.3, 2.0), st.integers(0, 2**31 - 1))
def test_gumbel_straight_through_is_the_soft_sample_gradient(H, K, tau, seed):
    rng = np.random.default_rng(seed)
    M, noise, W = rng.standard_normal((H, K)), gumbel.sample_noise((H, K), rng), rng.standard_normal((H, K))
    A, cache = gumbel.forward(M, noise, tau)
    assert np.all(A.sum(-1) == 1) and np.array_equal(A.argmax(-1), (M + noise).argmax(-1))
    dM = gumbel.backward(W, cache)

    def soft(M):
        z = (M + noise) / tau
        y = np.exp(z - z.max(-1, keepdims=True))
        return (W * y / y.sum(-1, keepdims=True)).sum()
    i, e = (rng.integers(H), rng.integers(K)), 1e-6
    Mp, Mm = M.copy(), M.copy()
    Mp[i] += e
    Mm[i] -= e
    assert abs((soft(Mp) - soft(Mm)) / (2 * e) - dM[i]) < 1e-7


@pytest.mark.parametrize("omap", rotation.MAPS)
@settings(max_examples=25, deadline=None)
@given(st.integers(2, 9), st.sampled_from([0.5, 3.0]), st.integers(0, 2**31 - 1))
def test_rotation_is_orthogonal_and_its_gradient_matches_finite_differences(omap, H, spread, seed):
    """spread 3: ‖A‖₁ up to ~20, so expm squares up to 3 times."""
    rng = np.random.default_rng(seed)
    params, base = rotation.init(H, rng)
    X = params["X"] + spread * rng.standard_normal((H, H))
    R, cache = rotation.forward(X, base, omap)
    np.testing.assert_allclose(R @ R.T, np.eye(H), atol=1e-12)
    W = rng.standard_normal((H, H))
    dX = rotation.backward(W, cache)
    for _ in range(4):
        i, e = (rng.integers(H), rng.integers(H)), 1e-6
        Xp, Xm = X.copy(), X.copy()
        Xp[i] += e
        Xm[i] -= e
        fd = ((rotation.forward(Xp, base, omap)[0] - rotation.forward(Xm, base, omap)[0]) * W).sum() / (2 * e)
        assert abs(fd - dX[i]) < 1e-6 * max(1.0, np.abs(dX).max())

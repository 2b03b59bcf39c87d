"""The linear interventions' Numba kernels against their NumPy references, on hypothesis-chosen shapes:
rotation_numba.py against rotation.py + expm.py (every Padé degree, 0..3 squarings, float32 and float64 X), and
autosegment_numba.py's mix against autosegment.py's, for unigram-style sources (partners among the bases) and
n-gram-style ones (the rows after the bases), in training (Gumbel noise) and at evaluation."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from onionref.onion.interventions import autosegment, gumbel, rotation, rotation_numba


@settings(max_examples=30, deadline=None)
@given(H=st.integers(1, 20), norm1=st.sampled_from([0.0, 0.005, 0.1, 0.5, 1.5, 3.0, 7.0, 30.0]) | st.floats(1e-3, 40),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31 - 1))
@example(H=48, norm1=8.3, dtype=np.float32, seed=0)
def test_fast_rotation_matches_numpy(H, norm1, dtype, seed):
    rng = np.random.default_rng(seed)
    base = rotation.init(H, rng)[1]
    N = np.tril(rng.standard_normal((H, H)), -1)
    n = np.abs(N - N.T).sum(axis=0).max()
    X = (N * (norm1 / n if n > 0 else 1.0) + rng.standard_normal(H) * np.eye(H)).astype(dtype)
    dR = rng.standard_normal((H, H)).astype(dtype)
    R_r, c_r = rotation.forward(X, base)
    R_f, c_f = rotation.forward(X, base, fast=True)
    dX_r, dX_f = rotation.backward(dR, c_r), rotation.backward(dR, c_f)
    assert c_f[0] == "matrix_exp_numba" and R_f.dtype == R_r.dtype == dX_f.dtype == dX_r.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(R_f, R_r, rtol=0, atol=tol)
    np.testing.assert_allclose(dX_f, dX_r, rtol=0, atol=tol * max(1.0, np.abs(dX_r).max()))


def test_fast_rotation_refuses_a_non_finite_x():
    with pytest.raises(ValueError, match="not finite"):
        rotation.forward(np.full((3, 3), np.nan, np.float32), np.eye(3), fast=True)


@settings(max_examples=30, deadline=None)
@given(H=st.integers(1, 12), V=st.integers(1, 8), pairs=st.integers(1, 6), ngram=st.booleans(), train=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_fast_mix_matches_numpy(H, V, pairs, ngram, train, seed):
    rng = np.random.default_rng(seed)
    B = 2 * pairs
    params, base = autosegment.init(H, V, rng)
    params = {"X": (params["X"] + 0.3 * rng.standard_normal((H, H))).astype(np.float32),
              "M": rng.standard_normal((H, V + 1)).astype(np.float32)}
    if ngram:
        h, src = rng.standard_normal((2 * B, H)).astype(np.float32), np.arange(B, 2 * B)
    else:
        perm = rng.permutation(B)
        src = np.empty(B, np.int64)
        src[perm[0::2]], src[perm[1::2]] = perm[1::2], perm[0::2]
        h = rng.standard_normal((B, H)).astype(np.float32)
    m = (rng.random((B, V)) < 0.5).astype(np.float64)
    noise = gumbel.sample_noise((H, V + 1), rng) if train else None
    dh = rng.standard_normal((B, H)).astype(np.float32)
    out_r, reg_r, c_r = autosegment.forward(params, base, h, src, m, noise)
    out_f, reg_f, c_f = autosegment.forward(params, base, h, src, m, noise, fast=True)
    assert out_f.dtype == out_r.dtype and reg_f == reg_r
    np.testing.assert_allclose(out_f, out_r, rtol=0, atol=1e-5 * max(1.0, np.abs(out_r).max()))
    g_r, g_f = autosegment.backward(dh, c_r), autosegment.backward(dh, c_f)
    assert set(g_r) == set(g_f) == {"X", "M"}
    for k in g_r:
        assert g_f[k].dtype == g_r[k].dtype
        np.testing.assert_allclose(g_f[k], g_r[k], rtol=0, atol=1e-5 * max(1.0, np.abs(g_r[k]).max()), err_msg=k)

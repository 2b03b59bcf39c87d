"""autosegment_numba.py's kernels (Gumbel assignment, products with R, mix) against autosegment.py's NumPy path,
on hypothesis-chosen shapes: the same h', the same gradients (float32 accuracy), for unigram-style sources (partners
among the bases) and n-gram-style ones (the rows after the bases), in training (Gumbel noise) and at evaluation."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from onionref.onion.interventions import autosegment, gumbel


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
        assert g_f[k].dtype == params[k].dtype            # the reference's dM is float64 (y's) in training
        np.testing.assert_allclose(g_f[k], g_r[k], rtol=0, atol=1e-5 * max(1.0, np.abs(g_r[k]).max()), err_msg=k)

"""Every analysis on the numba backend against the NumPy reference: the same frozen float32 model, the same analysis
parameters and the same random draws must give the same loss, exact-match flags and gradients (float32 accuracy),
on hypothesis-chosen shapes and thread counts. Fast-path changes of stage 2 (fused decode + loss + backward,
length-sorted rows, the GRU probes on the model's kernels) are held to the reference here."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from onionref.cells import gru_numba
from onionref.onion import seq2seq
from onionref.onion.frozen import Frozen
from onionref.onion.interventions.linear import LinearIntervention
from onionref.onion.interventions.onion import OnionIntervention
from onionref.onion.probes.gru_decoder import GruDecoderProbe
from onionref.onion.probes.onion import OnionProbe
from onionref.onion.probes.state_decoder import StateDecoderProbe
from onionref.tasks import access

L = 5
METHODS = [LinearIntervention(1, max_len=L), LinearIntervention(2, max_len=L),
           LinearIntervention(1, max_len=L, orthogonal_map="cayley"), OnionIntervention("onion"),
           OnionIntervention("noscale"), OnionIntervention("free", max_len=L), OnionIntervention("onion", count="end"),
           StateDecoderProbe(1, max_len=L), StateDecoderProbe(2, max_len=L), OnionProbe(),
           GruDecoderProbe(True), GruDecoderProbe(False)]


def _close(got, want, what, rel=3e-4):
    scale = max(float(np.abs(want).max()), 1e-3)
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * scale, err_msg=what)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{type(m).__name__}-{list(m.__dict__.values())[0]}")
@settings(max_examples=8, deadline=None)
@given(H=st.integers(2, 12), C=st.integers(3, 7), B=st.integers(1, 9).map(lambda b: 2 * b),
       threads=st.integers(1, 3), train=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_numba_analysis_matches_numpy(method, H, C, B, threads, train, seed):
    # A LayerNorm over H = 2 features maps every state to about ±(1, −1): its input gradient is ε/|d|³ (d the half
    # difference), far below float32 rounding, so the onion probe's E and scale gradients are rounding alone there.
    assume(H > 2 or not isinstance(method, OnionProbe))
    rng = np.random.default_rng(seed)
    model = seq2seq.init_params(H, C, C + 1, rng)
    lengths = np.full(B, L) if isinstance(method, LinearIntervention) else rng.integers(1, L + 1, B)
    tok = np.where(np.arange(L)[None] < lengths[:, None], rng.integers(0, C, (B, L)), 0)
    ref, fast = Frozen(model, C, False, "numpy"), Frozen(model, C, False, "numba")
    params, buffers = method.init(ref, rng)
    params = {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(v.dtype) for k, v in params.items()}
    old = gru_numba.get_threads()
    gru_numba.set_threads(threads)
    try:
        out_f = method.forward({k: v.copy() for k, v in params.items()}, buffers, fast, tok, lengths,
                               np.random.default_rng(seed + 1), train)
        grads_f = method.backward(out_f[2]) if train else None
    finally:
        gru_numba.set_threads(old)
    out_r = method.forward(params, buffers, ref, tok, lengths, np.random.default_rng(seed + 1), train)
    assert abs(out_f[0] - out_r[0]) <= 2e-5 * max(1.0, abs(out_r[0]))
    np.testing.assert_array_equal(out_f[1], out_r[1])
    if train:
        grads_r = method.backward(out_r[2])
        assert set(grads_f) == set(grads_r) == set(params)
        for k in grads_r:
            assert grads_f[k].dtype == params[k].dtype and grads_f[k].shape == params[k].shape, k
            _close(grads_f[k], grads_r[k], k)


@pytest.mark.parametrize("task", ["reverse", "lookup"])
@pytest.mark.parametrize("method", METHODS[:2] + [OnionIntervention("onion"),
                                                  OnionIntervention("onion", count="end")],
                         ids=lambda m: f"{type(m).__name__}-{list(m.__dict__.values())[0]}")
@settings(max_examples=4, deadline=None)
@given(H=st.integers(2, 12), C=st.integers(3, 7), B=st.integers(1, 9).map(lambda b: 2 * b), seed=st.integers(0, 2**31 - 1))
def test_numba_interventions_match_numpy_for_other_tasks(task, method, H, C, B, seed):
    """Issue 21: the fused decode of an edited state with the task's own decoder inputs, targets and loss mask
    (lookup: one step fed the query's position token)."""
    rng = np.random.default_rng(seed)
    model = seq2seq.init_params(H, C, access.vocab(task, C, False, L), rng)
    lengths = np.full(B, L) if isinstance(method, LinearIntervention) else rng.integers(1, L + 1, B)
    tok = np.where(np.arange(L)[None] < lengths[:, None], rng.integers(0, C, (B, L)), 0)
    ref, fast = Frozen(model, C, False, "numpy", task), Frozen(model, C, False, "numba", task)
    params, buffers = method.init(ref, rng)
    params = {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(v.dtype) for k, v in params.items()}
    out_f = method.forward({k: v.copy() for k, v in params.items()}, buffers, fast, tok, lengths,
                           np.random.default_rng(seed + 1), True)
    out_r = method.forward(params, buffers, ref, tok, lengths, np.random.default_rng(seed + 1), True)
    assert abs(out_f[0] - out_r[0]) <= 2e-5 * max(1.0, abs(out_r[0]))
    np.testing.assert_array_equal(out_f[1], out_r[1])
    grads_f, grads_r = method.backward(out_f[2]), method.backward(out_r[2])
    for k in grads_r:
        _close(grads_f[k], grads_r[k], k)

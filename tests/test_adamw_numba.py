"""adamw_numba.update (the checked AdamW step on Numba kernels) against divergence.update over adamw.step: the same
parameters and moments bit for bit over several steps on hypothesis-chosen float32 shapes, and the same verdict when
the loss, a gradient or an updated parameter is not finite (params left untouched when a gradient is not)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from onionref import adamw, adamw_numba, divergence

configs = st.builds(adamw.AdamWConfig,
                    lr=st.floats(1e-4, 1e-1), betas=st.tuples(st.floats(0.5, 0.99), st.floats(0.9, 0.9999)),
                    eps=st.sampled_from([1e-8, 1e-6, 1e-3]), weight_decay=st.floats(0.0, 1.0))


def _problem(seed, shapes):
    rng = np.random.default_rng(seed)
    params = {f"p{i}": np.asarray(rng.standard_normal(s), np.float32) for i, s in enumerate(shapes)}
    grads = [{k: np.asarray(rng.standard_normal(v.shape) * rng.choice([1e-4, 1.0, 30.0]), np.float32)
              for k, v in params.items()} for _ in range(4)]
    return params, grads


def _copy(d):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in d.items()}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.lists(st.integers(1, 9), max_size=3), min_size=1, max_size=4),
       configs)
def test_bit_identical_to_numpy_adamw(seed, shapes, cfg):
    params, grads = _problem(seed, shapes)
    ref_p, fast_p = _copy(params), _copy(params)
    ref_o, fast_o = adamw.init_state(ref_p), adamw.init_state(fast_p)
    for g in grads:
        assert divergence.update(ref_p, g, 1.0, ref_o, cfg) is None
        assert adamw_numba.update(fast_p, g, 1.0, fast_o, cfg) is None
        assert fast_o["step"] == ref_o["step"]
        for k in ref_p:
            for a, b in ((fast_p[k], ref_p[k]), (fast_o["m." + k], ref_o["m." + k]),
                         (fast_o["v." + k], ref_o["v." + k])):
                assert a.dtype == np.float32
                np.testing.assert_array_equal(a, b, err_msg=k)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["loss", "grad", "param"]))
def test_same_verdict_on_nonfinite(seed, where):
    params, grads = _problem(seed, [(3, 4), (5,), ()])
    g, loss = grads[0], 1.0
    if where == "loss":
        loss = float("nan")
    elif where == "grad":
        g["p1"][2] = np.inf
    else:  # a finite step that overflows a parameter: a large one scaled by 1 − lr·wd = 11
        params["p2"][...] = np.float32(3e38)
    cfg = adamw.AdamWConfig(lr=10.0, weight_decay=-1.0 if where == "param" else 0.0)
    ref_p, fast_p = _copy(params), _copy(params)
    ref_o, fast_o = adamw.init_state(ref_p), adamw.init_state(fast_p)
    want = divergence.update(ref_p, g, loss, ref_o, cfg)
    got = adamw_numba.update(fast_p, g, loss, fast_o, cfg)
    assert want is not None and got == want
    assert fast_o["step"] == ref_o["step"]
    for k in ref_p:
        np.testing.assert_array_equal(fast_p[k], ref_p[k])


def test_other_dtypes_go_to_the_reference():
    params = {"w": np.ones((2, 3))}
    grads = {"w": np.full((2, 3), 0.5)}
    ref_p, fast_p = _copy(params), _copy(params)
    ref_o, fast_o = adamw.init_state(ref_p), adamw.init_state(fast_p)
    cfg = adamw.AdamWConfig()
    assert divergence.update(ref_p, grads, 0.0, ref_o, cfg) is None
    assert adamw_numba.update(fast_p, grads, 0.0, fast_o, cfg) is None
    np.testing.assert_array_equal(fast_p["w"], ref_p["w"])
    assert fast_p["w"].dtype == np.float64

"""rotation_numba.py (the numba backend's matrix_exp rotation) against rotation.py + expm.py, the reference."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onionref.onion.interventions import rotation, rotation_numba

NORMS = st.sampled_from([0.0, 1e-3, 0.2, 1.0, 3.0, 6.0, 12.0, 40.0, 1e6]) | st.floats(1e-4, 60.0)


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 24), NORMS, st.sampled_from([np.float64, np.float32]), st.integers(0, 2**31 - 1))
def test_numba_rotation_matches_the_reference(n, norm1, dtype, seed):
    """Every Padé degree and 0..4 squarings; 1e6: 16-18 squarings, and in float32 the powers overflow and both fall
    back to ‖A‖₁."""
    rng = np.random.default_rng(seed)
    params, base = rotation.init(n, rng)
    N = np.tril(rng.standard_normal((n, n)), -1)
    scale = np.abs(N - N.T).sum(axis=0).max()
    X = (params["X"] + (N * norm1 / scale if scale > 0 else N)).astype(dtype)
    G = rng.standard_normal((n, n)).astype(dtype)
    R_ref, c_ref = rotation.forward(X, base)
    R, c = rotation.forward(X, base, fast=True)
    dX_ref, dX = rotation.backward(G, c_ref), rotation.backward(G, c)
    assert R.dtype == dX.dtype == dtype and R.shape == dX.shape == (n, n)
    assert c[1][0][1:3] == (c_ref[1][2], c_ref[1][1])            # the same degree m and squarings s
    # Each squaring doubles a relative rounding difference (R² of R(1 + δ)): 1e−12 up to s = 9, and 2ˢ·1e−15 beyond,
    # where only ‖A‖ = 1e6 goes (float64: 17-18 squarings, measured differences up to 5.6e−12)
    s = c[1][0][2]
    tol = max(1e-12, 2.0 ** s * 1e-15) if dtype == np.float64 else 2e-5
    assert rel(R, R_ref) < tol and rel(dX, dX_ref) < tol
    assert not np.triu(dX).any()


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_non_finite_rotation_is_refused(bad):
    X = -np.eye(4, dtype=np.float32)
    X[2, 1] = bad
    with pytest.raises(ValueError, match="not finite"):
        rotation_numba.forward(X, np.eye(4))

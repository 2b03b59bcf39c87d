"""expm.py against SciPy's expm / expm_frechet and against the eigendecomposition (Daleckii–Krein) it replaced.

Norms are drawn around every ℓ_m of the degree table and up to 40, so every Padé degree and 0..4 squarings occur."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.linalg import eigh, expm as scipy_expm, expm_frechet

from onionref.onion.interventions import expm, rotation

NORMS = st.sampled_from([0.0, 1e-3, 0.0107, 0.15, 0.199, 0.7, 1.7, 4.0, 4.8, 7.0, 14.0, 30.0, 40.0]) | \
    st.floats(1e-4, 40.0)


def rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def with_norm(X, norm1):
    n = np.abs(X).sum(axis=0).max()
    return X * (norm1 / n) if n > 0 else X


def eigh_expm_adjoint(A, G):
    """The replaced path, kept here as an oracle: for skew A, iA = Q diag(μ) Qᴴ;
    expm(A) = Q diag(e^{−iμ}) Qᴴ, L(Aᵀ, G) = Q [(Qᴴ G Q) ∘ Φ̄] Qᴴ, Φ̄_jk = e^{i(μj+μk)/2} sinc((μj − μk)/2)."""
    mu, Q = eigh(1j * A)
    E = ((Q * np.exp(-1j * mu)) @ Q.conj().T).real
    phi_t = np.exp(0.5j * (mu[:, None] + mu[None, :])) * np.sinc((mu[:, None] - mu[None, :]) / (2 * np.pi))
    return E, (Q @ ((Q.conj().T @ G @ Q) * phi_t) @ Q.conj().T).real


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 24), NORMS, st.integers(0, 2**31 - 1))
@example(48, 14.0, 0)
def test_skew_expm_and_gradient_match_scipy_and_the_eigendecomposition(n, norm1, seed):
    rng = np.random.default_rng(seed)
    A = with_norm(rotation.skew(rng.standard_normal((n, n))), norm1)
    G = rng.standard_normal((n, n))
    E, cache = expm.forward(A)
    dA = expm.backward(G, cache)
    assert rel(E, scipy_expm(A)) < 1e-12
    assert rel(dA, expm_frechet(A.T, G, compute_expm=False)) < 1e-12
    E_eig, dA_eig = eigh_expm_adjoint(A, G)
    assert rel(E, E_eig) < 1e-12 and rel(dA, dA_eig) < 1e-12
    np.testing.assert_allclose(E @ E.T, np.eye(n), atol=1e-13)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 16), NORMS, st.integers(0, 2**31 - 1))
def test_general_matrix_frechet_matches_scipy(n, norm1, seed):
    """Nothing in expm.py assumes skew symmetry: a general A and direction E, forward and adjoint."""
    rng = np.random.default_rng(seed)
    A = with_norm(rng.standard_normal((n, n)), min(norm1, 8.0))   # e^A of a general A grows as e^‖A‖
    E = rng.standard_normal((n, n))
    R, cache = expm.forward(A)
    R_ref, L_ref = expm_frechet(A, E)
    assert rel(R, R_ref) < 1e-12 and rel(expm.frechet(E, cache), L_ref) < 1e-12
    assert rel(expm.backward(E, cache), expm_frechet(A.T, E, compute_expm=False)) < 1e-12


@pytest.mark.parametrize("norm1, m, s", [(0.0, 3, 0), (0.0108, 3, 0), (0.0109, 5, 0), (0.5, 7, 0), (1.0, 9, 0),
                                         (2.0, 13, 0), (4.74, 13, 0), (4.75, 13, 1), (14.0, 13, 2), (30.0, 13, 3)])
def test_degree_and_squarings_follow_the_table(norm1, m, s):
    assert expm.degree(norm1) == (m, s)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_non_finite_matrix_is_refused(bad):
    with pytest.raises(ValueError, match="not finite"):
        expm.forward(np.full((3, 3), bad))


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 64), st.sampled_from([0.5, 8.0, 30.0]), st.integers(0, 2**31 - 1))
def test_float32_stays_float32_within_float32_accuracy(n, norm1, seed):
    """expm.py keeps its input's precision; in float32 (the ‖A‖₁ path, with float32's ℓ_m) e^A and the adjoint agree
    with float64 to ~1e−6 relative (measured up to H = 512 at ‖A‖₁ = 30: ≤ 7e−6)."""
    rng = np.random.default_rng(seed)
    A = with_norm(rotation.skew(rng.standard_normal((n, n))), norm1)
    G = rng.standard_normal((n, n))
    E64, c64 = expm.forward(A)
    E32, c32 = expm.forward(A.astype(np.float32))
    dA32 = expm.backward(G.astype(np.float32), c32)
    assert E32.dtype == dA32.dtype == np.float32
    assert rel(E32, E64) < 2e-5 and rel(dA32, expm.backward(G, c64)) < 2e-5


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 24), NORMS, st.integers(0, 2**31 - 1))
@example(48, 14.0, 0)
def test_skew_path_matches_scipy_with_its_squarings_from_the_two_norm(n, norm1, seed):
    """forward(A, skew=True) picks m and s from a bound β ≥ ‖A‖₂ = ρ(A) (expm._skew_powers): the result and the
    adjoint are SciPy's to 1e−12, the bound holds, ρ(A)/2ˢ ≤ ℓ_m, and it never squares more than the ‖A‖₁ path."""
    rng = np.random.default_rng(seed)
    A = with_norm(rotation.skew(rng.standard_normal((n, n))), norm1)
    G = rng.standard_normal((n, n))
    E, cache = expm.forward(A, skew=True)
    assert rel(E, scipy_expm(A)) < 1e-12
    assert rel(expm.backward(G, cache), expm_frechet(A.T, G, compute_expm=False)) < 1e-12
    s, m = cache[1], cache[2]
    rho = np.sqrt(max(np.linalg.eigvalsh(-A @ A).max(), 0.0))
    assert rho * 2.0 ** -s <= dict(expm.ELL)[m] * (1 + 1e-12)
    assert s <= expm.degree(np.abs(A).sum(axis=0).max())[1]


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 64), st.sampled_from([0.5, 8.0, 30.0, 60.0]), st.integers(0, 2**31 - 1))
def test_float32_skew_path_within_float32_accuracy(n, norm1, seed):
    """The rotations' path: float32 with float32's ℓ_m (expm.ELL32) and the 2-norm bound, against float64."""
    rng = np.random.default_rng(seed)
    A = with_norm(rotation.skew(rng.standard_normal((n, n))), norm1)
    G = rng.standard_normal((n, n))
    E64, c64 = expm.forward(A)
    E32, c32 = expm.forward(A.astype(np.float32), skew=True)
    dA32 = expm.backward(G.astype(np.float32), c32)
    assert E32.dtype == dA32.dtype == np.float32
    assert rel(E32, E64) < 2e-5 and rel(dA32, expm.backward(G, c64)) < 2e-5


def test_the_degree_tables_are_the_pade_error_bounds():
    """ℓ_m is the largest θ with Σ_{k>2m} k|c_k| θ^{k−1} ≤ u, where log(e^{−x} r_m(x)) = Σ c_k x^k (Al-Mohy & Higham
    2009, §6): recomputed here for u = 2⁻⁵³ (their Table 6.1, ELL) and u = 2⁻²⁴ (ELL32)."""
    import mpmath as mp
    from math import factorial
    mp.mp.dps, N = 50, 200

    def log_series(a):                               # log of a power series with a[0] = 1
        out = [mp.mpf(0)] * N
        for k in range(1, N):
            out[k] = (k * a[k] - sum(j * out[j] * a[k - j] for j in range(1, k))) / k
        return out

    for table, u in ((expm.ELL, mp.mpf(2) ** -53), (expm.ELL32, mp.mpf(2) ** -24)):
        for m, ell in table:
            b = [mp.mpf(factorial(2 * m - j) * factorial(m)) / (factorial(2 * m) * factorial(j) * factorial(m - j))
                 for j in range(m + 1)] + [mp.mpf(0)] * (N - m - 1)
            lp, lq = log_series(b), log_series([(-1) ** j * x for j, x in enumerate(b)])
            c = [p - q - (k == 1) for k, (p, q) in enumerate(zip(lp, lq))]
            assert max(abs(x) for x in c[:2 * m + 1]) < 1e-40   # r_m matches e^x to order 2m

            def bound(th):
                return sum(k * abs(c[k]) * th ** (k - 1) for k in range(2 * m + 1, N))
            lo, hi = mp.mpf(0), mp.mpf(20)
            for _ in range(50):
                lo, hi = ((lo + hi) / 2, hi) if bound((lo + hi) / 2) <= u else (lo, (lo + hi) / 2)
            assert ell == pytest.approx(float(lo), rel=2e-3), (m, float(lo))
            if table is expm.ELL32:
                assert ell <= float(lo)

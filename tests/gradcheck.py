"""The gradient check as a tool: centred finite differences in float64, and a relative error robust to tiny values.

    ∂f/∂θ_i ≈ (f(θ + ε e_i) − f(θ − ε e_i)) / 2ε,   error O(ε²·f''') + O(u·|f|/ε)  (u ≈ 1.1e-16)
With ε = 1e-6 and |f| = O(10) the second term dominates: expect agreement to ~1e-9 absolute.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-6


def rel_err(a, b, tiny: float = 1e-300) -> float:
    """max|a − b| / max(max|b|, tiny): one number per tensor, meaningful even where b has entries near zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), tiny))


def numgrad(f, x: np.ndarray, coords=None, eps: float = EPS) -> np.ndarray:
    """Centred differences of the scalar f() with respect to the array x, perturbed in place (and restored).

    coords: flat indices to check (all of them if None). Returns the numerical gradients at those coords."""
    flat = x.reshape(-1)                      # a view: x must be contiguous
    assert np.shares_memory(flat, x)
    coords = range(flat.size) if coords is None else coords
    out = []
    for i in coords:
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        out.append((fp - fm) / (2 * eps))
    return np.array(out)


def assert_grad(f, x: np.ndarray, analytic: np.ndarray, coords=None, atol: float = 1e-7, name: str = "") -> None:
    """numgrad(f, x) equals analytic (at coords) within atol·max(1, max|analytic|) + 4·u·|f|/ε.

    The second term is the rounding error of the centred difference itself (module docstring): it matters only
    where |f| is large (a loss of 5e5 makes differences good to about 1e-4 absolute, whatever the gradient)."""
    num = numgrad(f, x, coords)
    ana = np.asarray(analytic).reshape(-1)
    ana = ana if coords is None else ana[list(coords)]
    scale = max(1.0, float(np.max(np.abs(ana), initial=0.0)))
    rounding = 4 * np.finfo(np.float64).eps * abs(f()) / EPS
    err = float(np.max(np.abs(num - ana), initial=0.0))
    assert err <= atol * scale + rounding, \
        f"{name}: max |numerical − analytic| = {err:.3e} (scale {scale:.3g}, rounding bound {rounding:.3g})"

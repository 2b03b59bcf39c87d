"""The expected loss of the linear model, split into the paper's four named terms (spec B3), at finite T.

With A_s = W_yᵀ W_s (s = 0..T−1), features i.i.d. with μ = E[X], ν = E[X²], σ² = ν − μ², and at step t (1-based)
the residual coefficients c_s = A_s − [t > k]·δ_{sk}·I over s < t, output i's expected squared error is

    E[(y_i − ŷ_i)²] = ν Σ_{s,j} c_s[i,j]² + μ² ((Σ_{s,j} c_s[i,j])² − Σ_{s,j} c_s[i,j]²) + 2 b_i μ Σ_{s,j} c_s[i,j] + b_i²

Collecting terms (averaged over t = 1..T, weighted by I_i):
    task term                 ν (1 − A_k[i,i])²                                   (t > k)
    projection interference   ν Σ_{(s,j) ≠ (k,i)} A_s[i,j]²
    composition interference  μ² Σ_{(s,j) ≠ (s',j')} A_s[i,j] A_{s'}[i,j']
    mean correction           −2 μ² Σ_{(s,j) ≠ (k,i)} A_s[i,j]                    (t > k)
    bias term                 2 b_i μ Σ c + b_i²                                  (0 without an output bias)
The first four are the scalar formula ν(1−a_k)² + ν Σ_{s≠k} a_s² + μ² Σ_{s≠s'} a_s a_{s'} − 2μ² Σ_{s≠k} a_s.
"""
from __future__ import annotations

import numpy as np

TERMS = ("task", "projection_interference", "composition_interference", "mean_correction", "bias")


def analytic_loss(A: np.ndarray, k: int, mean: float, second: float, importance: np.ndarray,
                  b: np.ndarray | None = None) -> dict:
    """{term: value} and "total" for projections A [≥T, N_x, N_x] (A_s for s = 0..T−1, T = len(A))."""
    T, n = A.shape[0], A.shape[1]
    b = np.zeros(n) if b is None else np.asarray(b, dtype=np.float64)
    eye = np.eye(n)
    out = dict.fromkeys(TERMS, 0.0)
    for t in range(1, T + 1):
        c = A[:t].copy()                                  # c[s, i, j], s < t
        recall = t > k
        if recall:
            c[k] -= eye
        sq = (c ** 2).sum(axis=(0, 2))                    # Σ_{s,j} c² per output i
        tot = c.sum(axis=(0, 2))                          # Σ_{s,j} c per output i
        task = second * (1 - np.diag(A[k])) ** 2 if recall else np.zeros(n)
        out["task"] += importance @ task
        out["projection_interference"] += importance @ (second * sq - task)
        out["composition_interference"] += importance @ (mean ** 2 * (tot ** 2 - sq))
        if recall:
            # the difference between the cross terms of c and those of A is −2 Σ_{(s,j)≠(k,i)} A_s[i,j]
            off = A[:t].sum(axis=(0, 2)) - np.diag(A[k])
            out["mean_correction"] += importance @ (-2 * mean ** 2 * off)
            out["composition_interference"] -= importance @ (-2 * mean ** 2 * off)
        out["bias"] += importance @ (2 * b * mean * tot + b ** 2)
    out = {key: float(v / T) for key, v in out.items()}
    out["total"] = float(sum(out[t] for t in TERMS))
    return out

"""expm(A) by scaling and squaring Padé, and the adjoint of its Fréchet derivative from the same pieces (float64).

Al-Mohy & Higham 2009, "Computing the Fréchet derivative of the matrix exponential", Algorithm 6.4 (SciPy's
`expm_frechet` reads it the same way), split into a forward that keeps its pieces and a backward that reuses them.
With ‖A‖₁ ≤ ℓ_m for the smallest m in {3, 5, 7, 9} no scaling is needed (s = 0); otherwise m = 13 and
s = ⌈log₂(‖A‖₁ / ℓ₁₃)⌉, A ← A / 2ˢ. The ℓ_m are the paper's Table 6.1 bounds for the pair (expm, Fréchet
derivative): ℓ₃..ℓ₁₃ = 1.08e−2, 0.200, 0.783, 1.78, 4.74 (each below expm's own θ_m, so e^A is at least as
accurate as SciPy's `expm`). The [m/m] Padé approximant with coefficients b₀..b_m:
    U = A · Σₖ b₂ₖ₊₁ A²ᵏ,   V = Σₖ b₂ₖ A²ᵏ,   r_m(A) = (V − U)⁻¹ (V + U)
(m = 13 evaluates them as U = A (A⁶ W₁ + W₂), V = A⁶ Z₁ + Z₂ with W₁ = b₁₃A⁶ + b₁₁A⁴ + b₉A², W₂ = b₇A⁶ + b₅A⁴ +
b₃A² + b₁I, Z₁ = b₁₂A⁶ + b₁₀A⁴ + b₈A², Z₂ = b₆A⁶ + b₄A⁴ + b₂A² + b₀I), then e^A = r_m(A)^(2ˢ) by s squarings.
The Fréchet derivative L(A, E) = d/dt e^{A+tE} |₀ follows the same recurrences with E / 2ˢ:
    M₂ = AE + EA,  M₄ = A²M₂ + M₂A²,  M₆ = A⁴M₂ + M₄A²,  M₈ = A⁴M₄ + M₄A⁴   (M₂ₖ = L(A²ᵏ, E))
    L_U = A · Σₖ b₂ₖ₊₁ M₂ₖ + E · Σₖ b₂ₖ₊₁ A²ᵏ,   L_V = Σₖ b₂ₖ M₂ₖ
    (m = 13: L_W = A⁶ L_W₁ + M₆ W₁ + L_W₂, L_U = A L_W + E W, L_V = A⁶ L_Z₁ + M₆ Z₁ + L_Z₂)
    L ← (V − U)⁻¹ (L_U + L_V + (L_U − L_V) r_m(A))                        (the derivative of Q⁻¹P, Q = V − U)
    s times:  L ← R L + L R,  R ← R²                                        (the derivative of R²)
The backward needs the adjoint, for a loss ℓ(e^A) with G = dℓ/de^A: dℓ/dA = L(Aᵀ, G). Since
L(Aᵀ, G) = ∫₀¹ e^{tAᵀ} G e^{(1−t)Aᵀ} dt = L(A, Gᵀ)ᵀ, it is the recurrences above with E = Gᵀ on the forward's own
A²ᵏ, W, LU factors of V − U and squaring sequence: only the M, L_U, L_V terms, one LU solve and 2s products are new.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lu_factor, lu_solve

# (m, ℓ_m): Al-Mohy & Higham 2009, Table 6.1
ELL = ((3, 1.08e-2), (5, 2.00e-1), (7, 7.83e-1), (9, 1.78e0), (13, 4.74e0))
PADE = {
    3: (120., 60., 12., 1.),
    5: (30240., 15120., 3360., 420., 30., 1.),
    7: (17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.),
    9: (17643225600., 8821612800., 2075673600., 302702400., 30270240., 2162160., 110880., 3960., 90., 1.),
    13: (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800., 129060195264000.,
         10559470521600., 670442572800., 33522128640., 1323241920., 40840800., 960960., 16380., 182., 1.),
}


def degree(norm1: float) -> tuple[int, int]:
    """(m, s): the Padé degree and the number of squarings for ‖A‖₁ = norm1."""
    if not np.isfinite(norm1):
        raise ValueError("expm: the matrix is not finite")
    for m, ell in ELL[:-1]:
        if norm1 <= ell:
            return m, 0
    return 13, max(0, int(np.ceil(np.log2(norm1 / ELL[-1][1]))))


def forward(A):
    """A [n, n] float64 → (e^A [n, n], cache)."""
    m, s = degree(np.abs(A).sum(axis=0).max())
    A = A * 2.0 ** -s
    b, ident = PADE[m], np.eye(len(A))
    evens = [A @ A]                                  # A², A⁴, A⁶, A⁸ (as many as m needs)
    if m >= 5:
        evens.append(evens[0] @ evens[0])
    if m >= 7:
        evens.append(evens[1] @ evens[0])
    if m == 9:
        evens.append(evens[1] @ evens[1])
    if m == 13:
        A2, A4, A6 = evens
        W1 = b[13] * A6 + b[11] * A4 + b[9] * A2
        Z1 = b[12] * A6 + b[10] * A4 + b[8] * A2
        W = A6 @ W1 + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * ident
        V = A6 @ Z1 + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * ident
        outer = (W1, Z1)
    else:
        W = b[1] * ident + sum(b[2 * k + 3] * P for k, P in enumerate(evens))
        V = b[0] * ident + sum(b[2 * k + 2] * P for k, P in enumerate(evens))
        outer = None
    U = A @ W
    lu = lu_factor(V - U, check_finite=False)
    R = lu_solve(lu, V + U, check_finite=False)
    squares = []                                     # r_m(A)^(2^k), k = 0..s−1: what each squaring squared
    for _ in range(s):
        squares.append(R)
        R = R @ R
    return R, (A, s, m, evens, W, outer, lu, R if s == 0 else squares[0], squares)


def frechet(E, cache):
    """L(A, E) [n, n]: the Fréchet derivative of expm at the forward's A in the direction E [n, n]."""
    A, s, m, evens, W, outer, lu, R0, squares = cache
    b = PADE[m]
    E = E * 2.0 ** -s
    M = [A @ E + E @ A]                              # M₂, M₄, M₆, M₈
    if m >= 5:
        M.append(evens[0] @ M[0] + M[0] @ evens[0])
    if m >= 7:
        M.append(evens[1] @ M[0] + M[1] @ evens[0])
    if m == 9:
        M.append(evens[1] @ M[1] + M[1] @ evens[1])
    if m == 13:
        (M2, M4, M6), A6, (W1, Z1) = M, evens[2], outer
        Lw = A6 @ (b[13] * M6 + b[11] * M4 + b[9] * M2) + M6 @ W1 + b[7] * M6 + b[5] * M4 + b[3] * M2
        Lv = A6 @ (b[12] * M6 + b[10] * M4 + b[8] * M2) + M6 @ Z1 + b[6] * M6 + b[4] * M4 + b[2] * M2
    else:
        Lw = sum(b[2 * k + 3] * Mk for k, Mk in enumerate(M))
        Lv = sum(b[2 * k + 2] * Mk for k, Mk in enumerate(M))
    Lu = A @ Lw + E @ W
    L = lu_solve(lu, Lu + Lv + (Lu - Lv) @ R0, check_finite=False)
    for R in squares:
        L = R @ L + L @ R
    return L


def backward(G, cache):
    """G = dℓ/de^A [n, n] → dℓ/dA = L(Aᵀ, G) = L(A, Gᵀ)ᵀ [n, n]."""
    return frechet(np.ascontiguousarray(G.T), cache).T

"""expm(A) by scaling and squaring Padé, and the adjoint of its Fréchet derivative from the same pieces.

Al-Mohy & Higham 2009, "Computing the Fréchet derivative of the matrix exponential", Algorithm 6.4 (SciPy's
`expm_frechet` reads it the same way), split into a forward that keeps its pieces and a backward that reuses them.
With ‖A‖₁ ≤ ℓ_m for the smallest m in {3, 5, 7, 9} no scaling is needed (s = 0); otherwise m = 13 and
s = ⌈log₂(‖A‖₁ / ℓ₁₃)⌉, A ← A / 2ˢ. The ℓ_m are the paper's Table 6.1 bounds for the pair (expm, Fréchet
derivative): ℓ₃..ℓ₁₃ = 1.08e−2, 0.200, 0.783, 1.78, 4.74 (each below expm's own θ_m, so e^A is at least as
accurate as SciPy's `expm`). A float32 A stays float32 and takes the same bounds at float32's unit roundoff 2⁻²⁴:
0.308, 1.48, 3.25, 5.34, 9.98 (the truncation error below float32 rounding, as float64's is below float64's).
The [m/m] Padé approximant with coefficients b₀..b_m:
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
A²ᵏ, W, (V − U)⁻¹ and squaring sequence: only the M, L_U, L_V terms, one product by (V − U)⁻¹ and 2s products are
new. (V − U)⁻¹ is formed once (LAPACK getrf + getri) and applied by GEMMs: the Padé denominator is well conditioned
for ‖A‖ ≤ ℓ_m, and at n = 48 getrs with n right-hand sides took 28 µs where a GEMM takes 4.

A skew-symmetric A (the rotations', forward(A, skew=True)) is normal: its 2-norm is its spectral radius, which the
even powers the approximant computes anyway bound from above (_skew_powers), and the error bounds behind ℓ_m hold in
any subordinate norm. So m and s follow that bound: the same Padé recurrences, fewer squarings. A rotation's ‖A‖₁
overestimates ‖A‖₂ four to ten times (at H 512 the bench's start state has ‖A‖₁ = 27, s = 3, but ρ(A) = 2.7, bound
3.2 from A⁸: s = 0, and in float32 m = 7).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import get_lapack_funcs

# (m, ℓ_m): Al-Mohy & Higham 2009, Table 6.1 (u = 2⁻⁵³); for float32 the same bound at u = 2⁻²⁴, rounded down
# (tests/test_expm.py recomputes both tables from the Padé coefficients)
ELL = ((3, 1.08e-2), (5, 2.00e-1), (7, 7.83e-1), (9, 1.78e0), (13, 4.74e0))
ELL32 = ((3, 0.308), (5, 1.482), (7, 3.248), (9, 5.335), (13, 9.977))
PADE = {
    3: (120., 60., 12., 1.),
    5: (30240., 15120., 3360., 420., 30., 1.),
    7: (17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.),
    9: (17643225600., 8821612800., 2075673600., 302702400., 30270240., 2162160., 110880., 3960., 90., 1.),
    13: (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800., 129060195264000.,
         10559470521600., 670442572800., 33522128640., 1323241920., 40840800., 960960., 16380., 182., 1.),
}


def table(dtype) -> tuple:
    """The ((m, ℓ_m), ...) for A's precision: float32's unit roundoff allows larger ℓ_m (fewer squarings, lower m)."""
    return ELL32 if np.dtype(dtype) == np.float32 else ELL


def degree(norm1: float, dtype=np.float64) -> tuple[int, int]:
    """(m, s): the Padé degree and the number of squarings for ‖A‖ = norm1 in precision dtype."""
    if not np.isfinite(norm1):
        raise ValueError("expm: the matrix is not finite")
    ell = table(dtype)
    for m, bound in ell[:-1]:
        if norm1 <= bound:
            return m, 0
    return 13, max(0, int(np.ceil(np.log2(norm1 / ell[-1][1]))))


def _coefficients(m: int) -> np.ndarray:
    """The rows that combine the stacked powers [I, A², A⁴, ...] into the Padé polynomials: for m < 13
    (W, V) = (Σₖ b₂ₖ₊₁ A²ᵏ, Σₖ b₂ₖ A²ᵏ); for m = 13 (W₁, Z₁, W₂, Z₂)."""
    b = np.array(PADE[m])
    if m < 13:
        return np.stack([b[1::2], b[0::2]])
    return np.array([[0.0, b[9], b[11], b[13]], [0.0, b[8], b[10], b[12]], [b[1], b[3], b[5], b[7]],
                     [b[0], b[2], b[4], b[6]]])


COEF = {m: _coefficients(m) for m in PADE}
NEEDS = {3: 1, 5: 2, 7: 3, 9: 4}                     # m < 13: the highest A²ᵏ its polynomials use


def _combine(C, P):
    """[len(C), n, n]: row i is Σⱼ C[i, j] P[j], for a stack P [len(C[0]), n, n] (one GEMM, one pass over P)."""
    return (C.astype(P.dtype) @ P.reshape(len(P), -1)).reshape(len(C), *P.shape[1:])


def _inverse(Q):
    """Q⁻¹ by LAPACK getrf + getri (SciPy's wrappers cost as much as the work at n = 48)."""
    getrf, getri = get_lapack_funcs(("getrf", "getri"), (Q,))
    lu, piv, info = getrf(Q, overwrite_a=True)
    if info > 0:
        raise np.linalg.LinAlgError("expm: the Padé denominator V − U is singular")
    return getri(lu, piv, overwrite_lu=True)[0]


def _skew_powers(A, P) -> tuple[int, int] | None:
    """For a skew-symmetric A: fills P[1..] with the even powers A², A⁴, ... of the unscaled A as the degree needs
    them and returns (m, s) from β = min(‖A‖₁, ‖A²‖₁^½, ‖A⁴‖₁^¼, ‖A⁶‖₁^⅙, ‖A⁸‖₁^⅛) (None if a power is not finite;
    A⁸ only when m = 9 would need it anyway, and its bound may then allow m = 7).
    A is normal, so ‖A‖₂ = ρ(A), and A²ᵏ is symmetric, so ρ(A)²ᵏ = ‖A²ᵏ‖₂ ≤ ‖A²ᵏ‖₁: β ≥ ‖A‖₂. The bounds behind
    ℓ_m hold in every subordinate norm, the 2-norm included, so ‖A‖₂ ≤ β ≤ ℓ_m is enough."""
    beta = np.abs(A).sum(axis=0).max()
    for k, (X, Y) in enumerate(((A, A), (P[1], P[1]), (P[2], P[1]), (P[2], P[2])), 1):     # A², A⁴, A⁶, A⁸
        np.matmul(X, Y, out=P[k])
        root = np.abs(P[k]).sum(axis=0).max() ** (0.5 / k)
        if not (np.isfinite(root) and np.isfinite(beta)):
            return None
        beta = min(beta, root)
        m, s = degree(beta, A.dtype)
        if m < 13 and NEEDS[m] <= k:
            return m, s
        if k == 3 and m == 13:                       # m = 13 does not use A⁸
            break
    return degree(beta, A.dtype)


def forward(A, skew: bool = False):
    """A [n, n] (float64 or float32, kept) → (e^A [n, n], cache).
    skew: A is skew-symmetric (Aᵀ = −A), and the degree and squarings follow a bound on ‖A‖₂ from the even powers
    the approximant needs anyway (_skew_powers) instead of ‖A‖₁. A random or trained rotation's ‖A‖₁ is 4–10 × its
    ‖A‖₂ at H 48–512 (the sweep's 36 trained rotations: ρ(A) 1.6–2.6, β 1.9–3.0, ‖A‖₁ 0.9–1.4·√H), so this is what
    saves their squarings."""
    n = len(A)
    P = np.empty((5, n, n), A.dtype)                 # I, A², A⁴, A⁶ = A⁴A², A⁸ = A⁴A⁴ (as many as m needs)
    P[0] = np.eye(n)
    ms = _skew_powers(A, P) if skew else None
    if ms is None:
        m, s = degree(np.abs(A).sum(axis=0).max(), A.dtype)
        A = A * 2.0 ** -s
        np.matmul(A, A, out=P[1])
        k = 3 if m == 13 else m // 2
        if k >= 2:
            np.matmul(P[1], P[1], out=P[2])
        if k >= 3:
            np.matmul(P[2], P[1], out=P[3])
        if k >= 4:
            np.matmul(P[2], P[2], out=P[4])
    else:
        (m, s), k = ms, (3 if ms[0] == 13 else ms[0] // 2)
        if s:                                        # powers of two: the same bits as powers of the scaled A
            A = A * 2.0 ** -s
            P[1:k + 1] *= (2.0 ** (-2 * s * np.arange(1, k + 1))).astype(A.dtype)[:, None, None]
    P = P[:k + 1]
    if m == 13:
        W1, Z1, W2, Z2 = _combine(COEF[m], P)
        W, V, outer = P[3] @ W1 + W2, P[3] @ Z1 + Z2, (W1, Z1)
    else:
        (W, V), outer = _combine(COEF[m], P), None
    U = A @ W
    Qi = _inverse(V - U)
    R = Qi @ (V + U)
    squares = []                                     # r_m(A)^(2^k), k = 0..s−1: what each squaring squared
    for _ in range(s):
        squares.append(R)
        R = R @ R
    return R, (A, s, m, P, W, outer, Qi, R if s == 0 else squares[0], squares)


def frechet(E, cache):
    """L(A, E) [n, n]: the Fréchet derivative of expm at the forward's A in the direction E [n, n]."""
    A, s, m, P, W, outer, Qi, R0, squares = cache
    E = E * 2.0 ** -s
    Ms = np.empty((len(P) - 1,) + A.shape, A.dtype)  # M₂, M₄, M₆, M₈
    Ms[0] = A @ E + E @ A
    if len(Ms) >= 2:
        Ms[1] = P[1] @ Ms[0] + Ms[0] @ P[1]
    if len(Ms) >= 3:
        Ms[2] = P[2] @ Ms[0] + Ms[1] @ P[1]
    if len(Ms) >= 4:
        Ms[3] = P[2] @ Ms[1] + Ms[1] @ P[2]
    if m == 13:                                      # the identity's column has no derivative
        Lw1, Lz1, Lw2, Lz2 = _combine(COEF[m][:, 1:], Ms)
        (W1, Z1), A6, M6 = outer, P[3], Ms[2]
        Lw, Lv = A6 @ Lw1 + M6 @ W1 + Lw2, A6 @ Lz1 + M6 @ Z1 + Lz2
    else:
        Lw, Lv = _combine(COEF[m][:, 1:], Ms)
    Lu = A @ Lw + E @ W
    L = Qi @ (Lu + Lv + (Lu - Lv) @ R0)
    for R in squares:
        L = R @ L + L @ R
    return L


def backward(G, cache):
    """G = dℓ/de^A [n, n] → dℓ/dA = L(Aᵀ, G) = L(A, Gᵀ)ᵀ [n, n]."""
    return frechet(np.ascontiguousarray(G.T), cache).T

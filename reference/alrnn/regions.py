"""Linear subregions of a trained AL-RNN (spec A4): bitcodes, their histogram, transitions, JSD, Jacobians, fixed points.

    bitcode    d_t = 1[z_t,(M−P+1..M) > 0] ∈ {0,1}^P for every step of every trial (steps past a trial's end skipped)
    histogram  the relative frequency of each distinct code, sorted descending; distinct codes against 2^P
    connectome consecutive repeats dropped; count i → j between successive distinct codes, +1 self-count per run;
               normalised to sum 1. Bit flips per step: the Hamming distance of d_t and d_{t−1}, averaged.
    JSD        ½ KL(p‖m) + ½ KL(q‖m), m = ½(p + q), log base 2 (∈ [0, 1]); zero terms skipped
    region Ω   J_Ω = diag(Ā) + W D_Ω,  D_Ω = diag(1_{M−P}, d);  fixed point z*_Ω = (I − J_Ω)^{-1}(h + C s), "real"
               if bitcode(z*_Ω) = d, else "virtual"
"""
from __future__ import annotations

import numpy as np


def bitcodes(zs, P: int, lengths) -> np.ndarray:
    """Codes [n_steps, P] bool of every real step of every trial (trial-major, in time order). zs [T, B, M]."""
    T, B, M = zs.shape
    keep = np.arange(T)[:, None] < np.asarray(lengths)[None, :]           # [T, B]
    return zs.transpose(1, 0, 2)[keep.T][:, M - P:] > 0


def code_strings(codes) -> list[str]:
    """'0101...' per code (unit M−P+1 first)."""
    return ["".join("1" if b else "0" for b in c) for c in codes]


def unique_codes(codes):
    """(distinct codes [U, P] sorted by count, descending, counts [U], inverse [n_steps] ids into them)."""
    if codes.shape[1] == 0:
        return np.zeros((1, 0), bool), np.array([len(codes)]), np.zeros(len(codes), np.int64)
    uniq, inv, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    order = np.lexsort((np.arange(len(counts)), -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], counts[order], rank[inv.reshape(-1)]


def distinct_codes(codes) -> int:
    return int(len(unique_codes(codes)[1])) if len(codes) else 0


def transitions(ids, lengths, n_codes: int):
    """(connectome [n_codes, n_codes] summing to 1, mean bit flips per step needs codes: see bit_flips).

    ids: code ids of every real step, trial-major (as bitcodes returns)."""
    C = np.zeros((n_codes, n_codes))
    start = 0
    for L in np.asarray(lengths):
        seq = ids[start:start + L]
        start += L
        runs_ = seq[np.r_[True, seq[1:] != seq[:-1]]]
        np.add.at(C, (runs_[:-1], runs_[1:]), 1)
        np.add.at(C, (runs_, runs_), 1)
    return C / max(C.sum(), 1)


def bit_flips(codes, lengths) -> float:
    """Mean number of bits that change from one step to the next, within trials."""
    total, n, start = 0, 0, 0
    for L in np.asarray(lengths):
        c = codes[start:start + L]
        start += L
        total += int((c[1:] != c[:-1]).sum())
        n += max(L - 1, 0)
    return total / max(n, 1)


def distribution(ids, n_codes: int) -> np.ndarray:
    return np.bincount(ids, minlength=n_codes) / max(len(ids), 1)


def jsd(p, q) -> float:
    """Jensen–Shannon divergence of two distributions on the same support, log base 2; ∈ [0, 1] (the sum of
    rounded terms can fall an ulp below 0 for equal distributions: clamped)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = 0.5 * (p + q)

    def kl(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))
    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def jacobian(params: dict, code) -> np.ndarray:
    """J_Ω = diag(Ā) + W D_Ω for the region with bitcode `code` [P] (float64)."""
    W = params["W"].astype(np.float64)
    M, P = W.shape[0], params["A"].shape[0]
    d = np.concatenate([np.ones(M - P), np.asarray(code, float)])
    return np.diag(np.concatenate([np.zeros(M - P), params["A"].astype(np.float64)])) + W * d[None, :]


def fixed_point(params: dict, code, s=None):
    """(z* [M], real: bool) of region `code` under constant input s (default 0); (None, False) if I − J_Ω is singular."""
    M = params["W"].shape[0]
    P = params["A"].shape[0]
    b = params["h"].astype(np.float64)
    if s is not None:
        b = b + params["C"].astype(np.float64) @ np.asarray(s, float)
    try:
        z = np.linalg.solve(np.eye(M) - jacobian(params, code), b)
    except np.linalg.LinAlgError:
        return None, False
    return z, bool(np.array_equal(z[M - P:] > 0, np.asarray(code, bool)))


def all_fixed_points(params: dict, s=None) -> dict:
    """Every region's fixed point for P ≤ 12 (2^P regions): counts of real and virtual ones, and the real codes."""
    P = params["A"].shape[0]
    real = []
    for i in range(2 ** P):
        code = [(i >> (P - 1 - j)) & 1 for j in range(P)]
        z, ok = fixed_point(params, code, s)
        if ok:
            real.append("".join(map(str, code)))
    return {"regions": 2 ** P, "real": len(real), "virtual": 2 ** P - len(real), "real_codes": real}


def complex_pair(e) -> list:
    """[re, im] of a (complex) eigenvalue: its JSON form."""
    return [float(np.real(e)), float(np.imag(e))]

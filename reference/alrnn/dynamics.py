"""What the P ReLU units do during the copy task's delay and recall (the AL-RNN paper's Fig. 3 mechanism).

Phases of a copy trial, from tasks/copy.py `make` (L = seq_len, T = 2L + 1 + delay; half-open step ranges, z_t is the
state after the input s_t):
    input   [0, L)              the content symbols (one-hot channels 1..symbols−1)
    cue     [L, L + 1)          channel 0 once
    delay   [L + 1, L + 1 + delay)   zero input
    recall  [T − L, T)          channel 0 on every step; y_t = D z_t is read out here
Per step and per phase, over the test trials (bitcode d_t = 1[z_t,(M−P+1..M) > 0], regions.py):
    occupancy   occ[t, i] = fraction of trials whose d_t is the i-th most used code (i < k), occ[t, k] the rest
    per phase   the code histogram, the number of distinct codes, mean bit flips per step (‖d_t − d_{t−1}‖₁ for the
                steps t ≥ 1 of the phase: the flip that enters a phase counts in it)
    period      of one trial's delay codes c_{L+1} .. c_{L+delay}: drop a transient of ⌊delay / 2⌋ steps; the period is
                the smallest q ≥ 1 with c_t = c_{t+q} on the whole tail and q ≤ ⌊len(tail) / 2⌋ (the pattern repeats
                at least twice); q = 1 is a fixed region, q ≥ 2 a cycle of regions, 0 none (aperiodic in the window)
    ACF         of the first ReLU unit's state z_t over the delay, centred per trial, ρ(l) = Σ x_t x_{t+l} / Σ x_t²,
                averaged over trials; its first local maximum at a lag ≥ 2 is a period of the activity
    growth      of the same centred x_t: g = (rms of x over the delay's second half / over its first half)^(2 / delay)
                per step (rms over steps and trials); a limit cycle keeps g ≈ 1, a linear rotation r e^{±iθ} has g ≈ r
    spectrum    of the most used region of the delay (and of the recall): J_Ω = diag(Ā) + W D_Ω (regions.jacobian);
                a complex pair λ = r e^{±iθ} rotates by θ per step, a full turn in 2π / θ steps
                (and, briefly, of every region used in the delay: spectral radius and rotations with |λ| > 0.9)
    cycle       for the most common cycle of regions c_1 .. c_q of the delay (q ≥ 2): Π = J_{c_q} ⋯ J_{c_1} and its
                spectrum (the linearised return map of one turn around the cycle)
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError
from . import data, model
from .regions import bitcodes, code_strings, complex_pair, jacobian, unique_codes

PHASES = ("input", "cue", "delay", "recall")
TOP_CODES = 8        # codes shown by name in the occupancy; the rest are "other"
EIG_MIN = 0.9        # eigenvalues listed as slow (|λ| above this)
SHOWN_TRIALS = 4     # trials drawn in the ReLU-activity panel


def phase_bounds(seq_len: int, delay: int) -> dict:
    """{phase: (start, stop)} half-open step ranges that tile 0..T−1 (tasks/copy.py)."""
    L = seq_len
    return {"input": (0, L), "cue": (L, L + 1), "delay": (L + 1, L + 1 + delay),
            "recall": (L + 1 + delay, 2 * L + 1 + delay)}


def code_grid(zs, P: int):
    """(distinct codes [U, P] by count, counts [U], ids [T, B] into them) of every step of equal-length trials."""
    T, B, _ = zs.shape
    uniq, counts, ids = unique_codes(bitcodes(zs, P, np.full(B, T)))
    return uniq, counts, ids.reshape(B, T).T


def occupancy(ids, k: int) -> np.ndarray:
    """occ [T, k + 1]: per step, the fraction of trials in code id i < k, and in any id ≥ k (last column)."""
    return np.stack([(ids == i).mean(1) for i in range(k)] + [(ids >= k).mean(1)], axis=1)


def phase_summary(codes, ids, start: int, stop: int, labels: list, top: int = TOP_CODES) -> dict:
    """codes [T, B, P] bool, ids [T, B]: the histogram, distinct codes and bit flips of steps start..stop−1."""
    seg = ids[start:stop].ravel()
    freq = np.bincount(seg, minlength=len(labels)) / max(len(seg), 1)
    order = [int(i) for i in np.argsort(-freq, kind="stable") if freq[i] > 0]
    t0 = max(start, 1)
    flips = (codes[t0:stop] != codes[t0 - 1:stop - 1]).sum(-1) if stop > t0 else np.zeros((0, 1))
    return {"steps": [start, stop], "histogram": [{"code": labels[i], "freq": float(freq[i])} for i in order[:top]],
            "distinct_codes": len(order), "dominant": labels[order[0]] if order else None,
            "dominant_id": order[0] if order else None,
            "bit_flips_per_step": float(flips.mean()) if flips.size else 0.0}


def smallest_period(seq, transient: int = 0) -> int:
    """The smallest q ≥ 1 with seq[t] = seq[t + q] on seq[transient:], q ≤ half its length; 0 if there is none."""
    tail = np.asarray(seq)[transient:]
    for q in range(1, len(tail) // 2 + 1):
        if np.array_equal(tail[q:], tail[:-q]):
            return q
    return 0


def canonical_cycle(cycle) -> tuple:
    """The rotation of a cycle of code ids that is smallest lexicographically (so equal cycles compare equal)."""
    c = [int(x) for x in cycle]
    return min(tuple(c[i:] + c[:i]) for i in range(len(c)))


def delay_periods(ids, start: int, stop: int, transient: int):
    """(period per trial [B], Counter of the canonical cycles of the trials with period ≥ 2) of steps start..stop−1."""
    q = np.array([smallest_period(ids[start:stop, b], transient) for b in range(ids.shape[1])], np.int64)
    cycles = Counter(canonical_cycle(ids[start + transient:start + transient + q[b], b])
                     for b in range(ids.shape[1]) if q[b] >= 2)
    return q, cycles


def autocorrelation(x, max_lag: int) -> np.ndarray:
    """ρ [max_lag + 1] of x [n, B] (time-major): centred per trial, Σ_t x_t x_{t+l} / Σ_t x_t², mean over the trials
    that vary (all zeros if none do)."""
    x = np.asarray(x, np.float64)
    x = x - x.mean(0)
    var = (x * x).sum(0)
    ok = var > 1e-12 * max(var.max(initial=0.0), 1e-300)
    if not ok.any():
        return np.zeros(max_lag + 1)
    x, var = x[:, ok], var[ok]
    return np.array([((x[:len(x) - l] * x[l:]).sum(0) / var).mean() for l in range(max_lag + 1)])


def growth_per_step(x) -> dict:
    """x [n, B] (time-major), centred per trial: rms over the first ⌊n/2⌋ steps and over the rest, and the per-step
    growth g = (rms₂ / rms₁)^(2 / n) (None where rms₁ = 0)."""
    x = np.asarray(x, np.float64)
    x = x - x.mean(0)
    h = len(x) // 2
    r1, r2 = float(np.sqrt((x[:h] ** 2).mean())), float(np.sqrt((x[h:] ** 2).mean()))
    return {"rms_first_half": r1, "rms_second_half": r2,
            "growth_per_step": (r2 / r1) ** (2 / len(x)) if r1 > 0 else None}


def first_peak(acf) -> int | None:
    """The first lag l ≥ 2 with acf[l − 1] < acf[l] ≥ acf[l + 1] (the last lag counts if it rises into it)."""
    for l in range(2, len(acf)):
        if acf[l - 1] < acf[l] and (l + 1 == len(acf) or acf[l] >= acf[l + 1]):
            return l
    return None


def spectrum(J, delay: int | None = None) -> dict:
    """Eigenvalues of J by modulus (descending) as [re, im], moduli, angles; the spectral radius; those with
    |λ| > EIG_MIN; and each complex pair (Im λ > 0) with its steps per turn 2π/θ (and turns per delay)."""
    ev = np.linalg.eigvals(np.asarray(J, np.float64))
    ev = ev[np.lexsort((-ev.imag, -np.abs(ev)))]
    pairs = []
    for e in ev[ev.imag > 1e-9]:
        theta = float(np.angle(e))
        pair = {"eigenvalue": complex_pair(e), "modulus": float(abs(e)), "angle": theta,
                "steps_per_turn": 2 * np.pi / theta}
        if delay:
            pair["turns_per_delay"] = delay * theta / (2 * np.pi)
        pairs.append(pair)
    return {"eigenvalues": [complex_pair(e) for e in ev], "moduli": np.abs(ev).tolist(),
            "angles": np.angle(ev).tolist(),
            "spectral_radius": float(np.abs(ev).max()) if len(ev) else 0.0,
            "above_min": [complex_pair(e) for e in ev if abs(e) > EIG_MIN], "rotations": pairs}


def cycle_product(params: dict, codes) -> np.ndarray:
    """Π = J_{c_q} ⋯ J_{c_1} for the codes [q, P] in time order (c_1 acts first)."""
    M = params["W"].shape[0]
    prod = np.eye(M)
    for c in codes:
        prod = jacobian(params, c) @ prod
    return prod


def copy_dynamics(cfg, params: dict, trials, top: int = TOP_CODES) -> tuple[dict, dict]:
    """(the numbers above as a JSON-safe dict, arrays for the figure) of `params` on copy `trials` (equal lengths)."""
    if cfg.delay < 2:
        raise UserError(f"alrnn dynamics needs a delay of at least 2 steps; the run's delay is {cfg.delay}")
    bounds = phase_bounds(cfg.seq_len, cfg.delay)
    zs = np.asarray(model.predict(params, trials, cfg.backend)[0], np.float64)
    T, B, M = zs.shape
    if T != bounds["recall"][1]:
        raise UserError(f"trials of {T} steps do not match seq_len {cfg.seq_len}, delay {cfg.delay}")
    uniq, counts, ids = code_grid(zs, cfg.P)
    labels = [s or "(linear)" for s in code_strings(uniq)]
    codes = uniq[ids]                                                     # [T, B, P]
    k = min(top, len(counts))
    occ = occupancy(ids, k)
    phases = {p: phase_summary(codes, ids, *bounds[p], labels, top) for p in PHASES}
    d0, d1 = bounds["delay"]
    transient = cfg.delay // 2
    q, cycles = delay_periods(ids, d0, d1, transient)
    hist = Counter(q.tolist())
    cyc_q = [n for n in sorted(hist) if n >= 2]
    modal_q = max(cyc_q, key=lambda n: (hist[n], -n)) if cyc_q else None
    relu = zs[:, :, M - cfg.P:]
    acf = autocorrelation(relu[d0:d1, :, 0], cfg.delay // 2) if cfg.P else np.zeros(0)
    res = {"task": cfg.task, "hidden": M, "P": cfg.P, "seq_len": cfg.seq_len, "delay": cfg.delay, "trials": B,
           "phase_bounds": {p: list(v) for p, v in bounds.items()},
           "codes_used": int(len(counts)), "codes_possible": 2.0 ** cfg.P,
           "occupancy": {"codes": labels[:k] + ["other"], "fractions": occ.tolist()},
           "phases": {p: {kk: v for kk, v in s.items() if kk != "dominant_id"} for p, s in phases.items()},
           "delay_period": {"rule": f"smallest q with c_t = c_(t+q) after a transient of {transient} delay steps, "
                                    f"q <= {(cfg.delay - transient) // 2}; 1 = fixed region, 0 = none",
                            "transient": transient, "per_trial": q.tolist(),
                            "distribution": [{"period": n, "fraction": hist[n] / B} for n in sorted(hist)],
                            "fraction_fixed": hist[1] / B, "fraction_cycle": sum(hist[n] for n in cyc_q) / B,
                            "fraction_aperiodic": hist[0] / B, "modal_cycle_period": modal_q,
                            "cycles_top": [{"codes": [labels[i] for i in c], "fraction": n / B}
                                           for c, n in cycles.most_common(top)]},
           "relu_acf": {"unit": M - cfg.P if cfg.P else None, "acf": acf.tolist(),
                        "first_peak_lag": first_peak(acf) if cfg.P else None},
           "relu_growth": growth_per_step(relu[d0:d1, :, 0]) if cfg.P else None}
    if cfg.P == 0:
        res["note"] = "P = 0: no ReLU units, one linear region; its Jacobian is W (A is empty)"
    eigs = {}
    for p in ("delay", "recall"):
        i = phases[p]["dominant_id"]
        sp = spectrum(jacobian(params, uniq[i]), cfg.delay)
        res[f"{p}_region"] = {"code": labels[i], "freq_in_phase": phases[p]["histogram"][0]["freq"], **sp}
        eigs[f"{p} region {labels[i]}"] = np.array([complex(*e) for e in sp["eigenvalues"]])
    used = np.bincount(ids[d0:d1].ravel(), minlength=len(labels))
    res["delay_regions"] = []                             # every region of the delay, briefly (the top `top`)
    for i in [i for i in np.argsort(-used, kind="stable")[:top] if used[i]]:
        sp = spectrum(jacobian(params, uniq[i]), cfg.delay)
        res["delay_regions"].append({"code": labels[i], "freq_in_phase": float(used[i] / used.sum()),
                                     "spectral_radius": sp["spectral_radius"],
                                     "rotations": [r for r in sp["rotations"] if r["modulus"] > EIG_MIN]})
    if modal_q is not None:
        cyc = max((c for c in cycles if len(c) == modal_q), key=lambda c: (cycles[c], [-x for x in c]))
        sp = spectrum(cycle_product(params, uniq[list(cyc)]))
        res["delay_cycle"] = {"codes": [labels[i] for i in cyc], "trials": cycles[cyc] / B, **sp}
        eigs[f"cycle product ({modal_q} steps)"] = np.array([complex(*e) for e in sp["eigenvalues"]])
    fig = {"occupancy": occ, "labels": labels[:k] + ["other"], "bounds": bounds, "eigs": eigs,
           "relu": relu[:, :SHOWN_TRIALS]}
    return res, fig


def run_dynamics(run_dir) -> dict:
    """The analysis of a finished copy run on its test trials: RUN/dynamics.json and RUN/dynamics.png."""
    from .analyze import load_run
    from .figures import plot_dynamics
    run_dir = Path(run_dir)
    cfg, params = load_run(run_dir)
    if cfg.task != "copy":
        raise UserError(f"alrnn dynamics reads a copy run; {run_dir} is a {cfg.task} run")
    trials = data.make_split(cfg, "test")
    if trials is None:
        raise UserError(f"run {run_dir} has no test trials (n_test = 0)")
    res, arrays = copy_dynamics(cfg, params, trials)
    res = {"run": str(run_dir), **res}
    plot_dynamics(**arrays, path=run_dir / "dynamics.png", title=f"copy M={cfg.hidden} P={cfg.P} seed {cfg.seed}")
    runs.write_json(run_dir / "dynamics.json", res)
    return res

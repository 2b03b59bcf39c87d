"""The linear-subregion analyses (alrnn/regions.py, alrnn/analyze.py), on hand-made codes and on the spec's
hand-built P = 1 solution of the addition problem (spec A5), whose mechanism is known exactly:

    unit 1 (ReLU) reads u_t = x_t + K m_t − K, so relu(u_t) = x_t m_t: it is positive exactly at the marked steps;
    unit 0 (linear) integrates it with W_01 = 1 and self-coupling W_00 = 1;  y = z_0 at the last step.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from onionref.alrnn import data, model, regions
from onionref.alrnn.analyze import analyze_model
from onionref.alrnn.config import resolve
from onionref.tasks import addition


def handbuilt_adder(K: float = 2.0) -> dict:
    f = np.float32
    return {"A": np.zeros(1, f), "W": np.array([[1, 1], [0, 0]], f), "C": np.array([[0, 0], [1, K]], f),
            "h": np.array([0, -K], f), "D": np.array([[1, 0]], f)}


def test_the_handbuilt_p1_model_solves_the_addition_problem():
    trials = addition.make(500, 50, np.random.default_rng(0))
    for backend in ("numpy", "numba"):
        _, y = model.predict(handbuilt_adder(), trials, backend)
        sc = addition.score(y, trials)
        assert sc["mse"] < 1e-10 and sc["accuracy"] == 1.0, (backend, sc)


def test_analysis_finds_the_input_gate_and_the_integrator(tmp_path):
    cfg = resolve("addition", dict(hidden=2, P=1, n_test=200, mar_units=1))
    res = analyze_model(cfg, handbuilt_adder(), tmp_path)
    assert res["codes_used"] == 2
    assert res["histogram"][0]["code"] == "0"                       # off: every unmarked step
    assert res["gate"]["p_off_dominant_at_marks"] == 1.0
    assert res["gate"]["p_off_dominant_elsewhere"] == 0.0
    # The code flips exactly where the mark switches on or off (adjacent marks share one "on" run).
    m = data.make_split(cfg, "test").s[:, :, 1]
    assert np.isclose(res["bit_flips_per_step"], (m[1:] != m[:-1]).sum() / (49 * m.shape[1]))
    nearest = res["regions"][0]["eig_nearest_1"]
    assert np.isclose(nearest[0], 1.0) and nearest[1] == 0.0
    # Input off (s = 0): the off region's fixed point needs I − J singular (an integrator): none is found there.
    assert res["fixed_points"]["regions"] == 2
    for f in ("histogram.png", "transitions.png", "eigenvalues.png", "regions.json"):
        assert (tmp_path / f).stat().st_size > 0


def test_bitcodes_skip_padding_and_transitions_follow_the_spec():
    zs = np.zeros((4, 2, 3))
    zs[:, 0, 2] = [1, 1, -1, 1]          # trial 0 (length 4): codes 1 1 0 1
    zs[:, 1, 2] = [-1, 1, 5, 5]          # trial 1 (length 2): codes 0 1 | padding
    codes = regions.bitcodes(zs, 1, np.array([4, 2]))
    assert codes[:, 0].tolist() == [True, True, False, True, False, True]
    uniq, counts, ids = regions.unique_codes(codes)
    assert regions.code_strings(uniq) == ["1", "0"] and counts.tolist() == [4, 2]
    C = regions.transitions(ids, np.array([4, 2]), 2)
    # Runs: trial 0: 1, 0, 1 → edges 1→0, 0→1 and self-counts 1, 0, 1; trial 1: 0, 1 → edge 0→1, self 0, 1.
    want = np.array([[3, 1], [2, 2]]) / 8.0   # index 0 = code "1"
    assert np.allclose(C, want)
    assert np.isclose(regions.bit_flips(codes, np.array([4, 2])), 3 / 4)


@given(st.lists(st.floats(0, 1), min_size=2, max_size=8), st.lists(st.floats(0, 1), min_size=2, max_size=8))
def test_jsd_is_a_symmetric_divergence_in_bits(a, b):
    n = min(len(a), len(b))
    p, q = np.array(a[:n]) + 1e-3, np.array(b[:n]) + 1e-3
    p, q = p / p.sum(), q / q.sum()
    d = regions.jsd(p, q)
    assert 0 <= d <= 1 + 1e-12 and np.isclose(d, regions.jsd(q, p)) and regions.jsd(p, p) < 1e-12
    assert np.isclose(regions.jsd([1, 0], [0, 1]), 1.0)


def test_jsd_of_nearly_equal_distributions_is_not_negative():
    # the rounded sum of the two KL terms was −1.7e-17 for this pair (found by a random search)
    p = [0.1660168350147427, 0.09389198301055937, 0.03277165590687201, 0.17397316174775085, 0.12674464152057935,
         0.07494616888176472, 0.11722858614412414, 0.21442696777360676]
    q = [0.16601683501494352, 0.09389198301053676, 0.03277165590686412, 0.17397316174770897, 0.12674464152054885,
         0.07494616888174668, 0.1172285861440959, 0.2144269677735551]
    assert regions.jsd(p, q) == 0.0


def test_fixed_points_real_and_virtual():
    # M = P = 1: z' = a z + w relu(z) + h, a = 0.5, w = −1. On (z > 0): J = −0.5, z* = h / 1.5; off: J = 0.5, z* = 2h.
    p = {"A": np.array([0.5]), "W": np.array([[-1.0]]), "C": np.zeros((1, 1)), "h": np.array([1.0])}
    z, real = regions.fixed_point(p, [1])
    assert np.isclose(z[0], 1 / 1.5) and real
    z, real = regions.fixed_point(p, [0])
    assert np.isclose(z[0], 2.0) and not real
    assert regions.all_fixed_points(p) == {"regions": 2, "real": 1, "virtual": 1, "real_codes": ["1"]}
    p["h"] = np.array([-1.0])
    assert regions.all_fixed_points(p)["real_codes"] == ["0"]
    assert np.allclose(regions.jacobian(p, [0]), [[0.5]]) and np.allclose(regions.jacobian(p, [1]), [[-0.5]])

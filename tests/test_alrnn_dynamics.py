"""alrnn/dynamics.py and `alrnn dynamics RUN`: the ReLU units of a copy run over the task's phases.

- the phase boundaries tile the trial and match the generator (cue channel, blank delay, readout steps);
- the occupancy sums to 1 at every step; the period finder on hand-made code sequences and on random periodic ones;
- the spectra equal numpy's on regions.jacobian; the cycle product is the product of the regions' Jacobians;
- the command on a tiny trained copy run writes dynamics.json and dynamics.png; bad RUNs are one line, exit 2.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from onionref.alrnn import dynamics, regions
from onionref.tasks import copy as copy_task
from runhelpers import assert_one_line_error, call_main


@pytest.mark.parametrize("seq_len,delay", [(4, 20), (2, 6), (1, 0), (3, 1)])
def test_phase_bounds_match_the_generator(seq_len, delay):
    b = dynamics.phase_bounds(seq_len, delay)
    T = copy_task.length(seq_len, delay)
    trials = copy_task.make(5, seq_len, delay, 4, np.random.default_rng(0))
    s = trials.s
    assert [b[p] for p in dynamics.PHASES] == sorted(b.values()) and b["input"][0] == 0 and b["recall"][1] == T
    assert all(b[p][1] == b[q][0] for p, q in zip(dynamics.PHASES, dynamics.PHASES[1:]))
    on = s.sum(-1) > 0
    assert (s[slice(*b["input"]), :, 1:].sum(-1) == 1).all() and (s[slice(*b["input"]), :, 0] == 0).all()
    assert (s[slice(*b["cue"]), :, 0] == 1).all()
    assert not on[slice(*b["delay"])].any()
    assert (s[slice(*b["recall"]), :, 0] == 1).all()
    assert sorted(set(trials.t_out.ravel().tolist())) == list(range(*b["recall"]))


def test_occupancy_sums_to_one_and_counts_codes():
    rng = np.random.default_rng(1)
    zs = rng.standard_normal((9, 30, 5))
    uniq, counts, ids = dynamics.code_grid(zs, 3)
    assert ids.shape == (9, 30) and np.array_equal(uniq[ids], zs[:, :, 2:] > 0)
    for k in (1, 3, len(counts)):
        occ = dynamics.occupancy(ids, k)
        assert occ.shape == (9, k + 1) and np.allclose(occ.sum(1), 1)
        assert np.allclose(occ[:, 0], (ids == 0).mean(1))
    assert np.allclose(dynamics.occupancy(ids, len(counts))[:, -1], 0)


def test_phase_summary_counts_flips_into_the_phase():
    # one trial, P = 1: codes 0 1 1 0 1 0 0 0; phase [2, 5) sees the flips entering t = 3 and t = 4 (t = 2: none).
    c = np.array([0, 1, 1, 0, 1, 0, 0, 0], bool)
    ids = (~c).astype(np.int64)[:, None]                   # id 0 is code "1", id 1 code "0"
    s = dynamics.phase_summary(c[:, None, None], ids, 2, 5, ["1", "0"])
    assert s["distinct_codes"] == 2 and s["dominant"] == "1" and np.isclose(s["bit_flips_per_step"], 2 / 3)
    assert np.isclose(sum(h["freq"] for h in s["histogram"]), 1)
    assert dynamics.phase_summary(c[:, None, None], ids, 0, 2, ["1", "0"])["bit_flips_per_step"] == 1.0


@pytest.mark.parametrize("seq,transient,q", [
    ([1] * 10, 0, 1), ([0, 0, 1, 1, 1, 1, 1, 1], 2, 1), ([0, 1] * 5, 0, 2), ([5, 0, 1, 0, 1, 0, 1], 1, 2),
    ([0, 1, 2] * 3, 0, 3), ([1, 1, 0] * 4, 3, 3), ([0, 1, 2, 3, 4, 5], 0, 0), ([0, 0, 0, 1], 0, 0),
    ([0, 1, 2, 0, 1], 0, 0),                    # period 3 seen less than twice: none
    ([1, 2], 2, 0), ([], 0, 0)])
def test_smallest_period_on_handmade_sequences(seq, transient, q):
    assert dynamics.smallest_period(seq, transient) == q


@given(st.lists(st.integers(0, 3), min_size=1, max_size=5), st.integers(2, 4), st.integers(0, 4), st.data())
def test_smallest_period_of_a_repeated_pattern(pattern, reps, transient, data):
    seq = data.draw(st.lists(st.integers(0, 3), min_size=transient, max_size=transient)) + pattern * reps
    q = dynamics.smallest_period(seq, transient)
    assert 1 <= q <= len(pattern) and len(pattern) % q == 0          # a divisor of the pattern's length
    tail = np.array(seq[transient:])
    assert np.array_equal(tail[q:], tail[:-q])
    assert all(not np.array_equal(tail[r:], tail[:-r]) for r in range(1, q))
    assert dynamics.canonical_cycle(tail[:q]) == dynamics.canonical_cycle(tail[1:q + 1])


def test_delay_periods_and_autocorrelation():
    ids = np.array([[0, 1, 0, 1, 0, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 2, 0, 1, 2, 3, 4]]).T
    q, cycles = dynamics.delay_periods(ids, 0, 8, 2)
    assert q.tolist() == [2, 1, 0] and cycles == {(0, 1): 1}
    x = np.cos(2 * np.pi * np.arange(40) / 5)[:, None] * np.array([1.0, 2.0, 0.0])   # the flat trial is skipped
    acf = dynamics.autocorrelation(x, 12)
    assert np.isclose(acf[0], 1) and dynamics.first_peak(acf) == 5
    assert np.allclose(dynamics.autocorrelation(np.ones((6, 2)), 3), 0)


def test_growth_per_step_tells_a_limit_cycle_from_a_growing_rotation():
    t = np.arange(40)[:, None]
    phase = np.linspace(0, 2 * np.pi, 7, endpoint=False)[None, :]
    steady = 3 + np.cos(np.pi / 2 * t + phase)                       # 10 full turns, constant amplitude
    assert np.isclose(dynamics.growth_per_step(steady)["growth_per_step"], 1)
    g = dynamics.growth_per_step(5 + 1.08 ** t * np.cos(np.pi / 2 * t + phase))["growth_per_step"]
    assert np.isclose(g, 1.08, rtol=1e-2)
    assert dynamics.growth_per_step(np.ones((6, 2)))["growth_per_step"] is None


def _params(rng, M, P):
    return {"A": rng.normal(0.3, 0.4, P), "W": rng.standard_normal((M, M)) / np.sqrt(M),
            "C": rng.standard_normal((M, 3)), "h": rng.standard_normal(M), "D": rng.standard_normal((2, M))}


@pytest.mark.parametrize("M,P", [(5, 2), (4, 0), (3, 3)])
def test_spectrum_is_numpys_on_the_region_jacobian(M, P):
    rng = np.random.default_rng(M + P)
    p = _params(rng, M, P)
    code = rng.integers(0, 2, P).astype(bool)
    J = regions.jacobian(p, code)
    sp = dynamics.spectrum(J, delay=12)
    ev = np.array([complex(*e) for e in sp["eigenvalues"]])
    want = np.linalg.eigvals(J)
    assert np.allclose(np.sort_complex(ev), np.sort_complex(want))
    assert np.all(np.diff(sp["moduli"]) <= 1e-12) and np.isclose(sp["spectral_radius"], np.abs(want).max())
    assert len(sp["above_min"]) == int((np.abs(want) > dynamics.EIG_MIN).sum())
    for r in sp["rotations"]:
        e = complex(*r["eigenvalue"])
        assert e.imag > 0 and np.isclose(r["steps_per_turn"] * np.angle(e), 2 * np.pi)
        assert np.isclose(r["turns_per_delay"], 12 / r["steps_per_turn"])
    assert len(sp["rotations"]) == int((want.imag > 1e-9).sum())


def test_a_rotation_by_a_quarter_turn():
    theta = np.pi / 2
    J = 1.05 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    (r,) = dynamics.spectrum(J, delay=20)["rotations"]
    assert np.isclose(r["modulus"], 1.05) and np.isclose(r["steps_per_turn"], 4) and np.isclose(r["turns_per_delay"], 5)


def test_cycle_product_follows_the_trajectory():
    rng = np.random.default_rng(7)
    M, P = 5, 2
    p = _params(rng, M, P)
    cycle = np.array([[1, 0], [1, 1], [0, 1]], bool)
    Pi = dynamics.cycle_product(p, cycle)
    want = regions.jacobian(p, cycle[2]) @ regions.jacobian(p, cycle[1]) @ regions.jacobian(p, cycle[0])
    assert np.allclose(Pi, want)
    # the differential of three steps of the affine maps of the regions (c_1 first) is Π
    z0, dz = rng.standard_normal(M), 1e-3 * rng.standard_normal(M)

    def run(z):
        for c in cycle:
            z = regions.jacobian(p, c) @ z + p["h"]
        return z
    assert np.allclose(run(z0 + dz) - run(z0), Pi @ dz)
    # a cyclic rotation of the cycle has the same spectrum
    ev = np.sort_complex(np.linalg.eigvals(Pi))
    assert np.allclose(ev, np.sort_complex(np.linalg.eigvals(dynamics.cycle_product(p, np.roll(cycle, 1, 0)))))


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("dyn") / "r"
    rc, _, err = _main(["alrnn", "train", "--task", "copy", "--hidden", "6", "--P", "2", "--seq-len", "2",
                        "--delay", "6", "--epochs", "3", "--eval-every", "1", "--n-train", "64", "--n-test", "16",
                        "--backend", "numpy", "--quiet", "--out", run])
    assert rc == 0, err
    return run


def _main(argv):
    from onionref.cli import main
    try:
        return main([str(a) for a in argv]), "", ""
    except SystemExit as e:
        return e.code, "", ""


def test_dynamics_command_writes_both_files(copy_run, capsys):
    rc, out, err = call_main(["alrnn", "dynamics", copy_run, "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res == json.loads((copy_run / "dynamics.json").read_text())
    assert (copy_run / "dynamics.png").stat().st_size > 0
    assert res["phase_bounds"] == {"input": [0, 2], "cue": [2, 3], "delay": [3, 9], "recall": [9, 11]}
    occ = np.array(res["occupancy"]["fractions"])
    assert occ.shape == (11, len(res["occupancy"]["codes"])) and np.allclose(occ.sum(1), 1)
    dp = res["delay_period"]
    assert len(dp["per_trial"]) == 16 and np.isclose(sum(d["fraction"] for d in dp["distribution"]), 1)
    assert np.isclose(dp["fraction_fixed"] + dp["fraction_cycle"] + dp["fraction_aperiodic"], 1)
    assert np.isclose(sum(c["fraction"] for c in dp["cycles_top"]), dp["fraction_cycle"]) or len(dp["cycles_top"]) == 8
    assert len(res["relu_acf"]["acf"]) == 6 // 2 + 1 and res["relu_growth"]["rms_first_half"] >= 0
    assert set(res["delay_region"]["code"]) <= {"0", "1"} and len(res["delay_region"]["eigenvalues"]) == 6
    assert res["delay_regions"][0]["code"] == res["delay_region"]["code"]
    assert np.isclose(sum(r["freq_in_phase"] for r in res["delay_regions"]), 1)
    rc, out, err = call_main(["alrnn", "dynamics", copy_run], capsys)
    assert rc == 0 and "delay period of regions" in out, err


def test_dynamics_with_no_relu_units(tmp_path, capsys):
    run = tmp_path / "p0"
    rc, _, err = call_main(["alrnn", "train", "--task", "copy", "--hidden", "4", "--P", "0", "--seq-len", "1",
                            "--delay", "3", "--epochs", "1", "--eval-every", "1", "--n-train", "16", "--n-test", "8",
                            "--backend", "numpy", "--quiet", "--out", run], capsys)
    assert rc == 0, err
    rc, out, err = call_main(["alrnn", "dynamics", run, "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert "no ReLU units" in res["note"] and res["codes_used"] == 1 and res["delay_period"]["fraction_fixed"] == 1
    assert res["delay_region"]["code"] == "(linear)" and len(res["delay_region"]["eigenvalues"]) == 4
    assert (run / "dynamics.png").stat().st_size > 0


def test_bad_runs_are_one_line(copy_run, tmp_path, capsys):
    assert_one_line_error(*call_main(["alrnn", "dynamics", tmp_path / "none"], capsys), "no run directory")
    other = tmp_path / "gru"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"format": "onionref-run/1", "config": {"hidden": 8}}))
    (other / "DONE").write_text("")
    assert_one_line_error(*call_main(["alrnn", "dynamics", other], capsys), "not an AL-RNN run")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(*call_main(["alrnn", "dynamics", empty], capsys), "no DONE marker")
    (empty / "DONE").write_text("")
    assert_one_line_error(*call_main(["alrnn", "dynamics", empty], capsys), "missing file", "config.json")
    add = tmp_path / "add"
    rc, _, err = call_main(["alrnn", "train", "--task", "addition", "--hidden", "3", "--P", "1", "--length", "5",
                            "--epochs", "1", "--eval-every", "1", "--n-train", "16", "--n-test", "8",
                            "--backend", "numpy", "--quiet", "--out", add], capsys)
    assert rc == 0, err
    assert_one_line_error(*call_main(["alrnn", "dynamics", add], capsys), "reads a copy run", "addition run")
    short = tmp_path / "short"
    rc, _, err = call_main(["alrnn", "train", "--task", "copy", "--hidden", "3", "--P", "1", "--seq-len", "1",
                            "--delay", "1", "--epochs", "1", "--eval-every", "1", "--n-train", "16", "--n-test", "8",
                            "--backend", "numpy", "--quiet", "--out", short], capsys)
    assert rc == 0, err
    assert_one_line_error(*call_main(["alrnn", "dynamics", short], capsys), "at least 2 steps")

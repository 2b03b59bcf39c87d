"""`onionref bench`: a smoke run that must print valid JSON, and bad input that must fail in one line.

Run in a subprocess: the bench pins BLAS threads and sets torch's thread count for its whole process."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from onionref.bench import analyses as bench_analyses
from onionref.bench import training as bench
from onionref.cli import main


def _onionref(*args, timeout=300):
    return subprocess.run([sys.executable, "-c", "from onionref.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_bench_smoke_prints_json():
    r = _onionref("bench", "--hidden", "8", "--steps", "2", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["sgemm_peak_gflops"] > 0 and res["threads"] >= 1
    (row,) = res["rows"]
    assert row["hidden"] == 8
    for name in res["backends"]:
        assert row[name]["ms"] > 0 and row[name]["steps_timed"] == 2
    assert {"numba", "numpy"} <= set(res["backends"])
    assert row["numpy/numba"] == pytest.approx(row["numpy"]["ms"] / row["numba"]["ms"])


def test_bench_cells_smoke_prints_json():
    r = _onionref("bench", "--cells", "lstm,alrnn-pH", "--hidden", "4", "--steps", "1", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["threads"] == 1 and [(row["hidden"], row["cell"]) for row in res["rows"]] == [(4, "lstm"),
                                                                                             (4, "alrnn-pH")]
    for row in res["rows"]:
        assert row["numpy"] > 0 and row["numba"] > 0
        assert row["numpy/numba"] == pytest.approx(row["numpy"] / row["numba"])


def test_bench_analyses_smoke_prints_json():
    r = _onionref("bench", "--analyses", "--hidden", "8", "--steps", "2", "--threads", "1",
                  "--methods", "onion,linear,probe-gru-noinput,bigram-cayley", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert {"numba", "numpy"} <= set(res["backends"]) and res["sgemm_peak_gflops"]["1"] > 0
    assert [(row["threads"], row["hidden"], row["analysis"]) for row in res["rows"]] == \
        [(1, 8, "onion"), (1, 8, "linear"), (1, 8, "probe-gru-noinput"), (1, 8, "bigram-cayley")]
    for row in res["rows"]:
        assert row["mflop"] == pytest.approx(bench_analyses.nominal_flops(row["analysis"], 8) / 1e6)
        for name in res["backends"]:
            assert 0 < row[name]["ms_min"] <= row[name]["ms"] and row[name]["steps_timed"] >= 2
        assert row["numpy/numba"] == pytest.approx(row["numpy"]["ms"] / row["numba"]["ms"])


def test_analysis_flop_counts():
    G = 48 * 48 * 256 * 5.5
    assert bench_analyses.nominal_flops("onion", 48) == 36 * G + 4 * 48 * 30 * 256 * 5.5
    assert bench_analyses.nominal_flops("bigram", 48) > bench_analyses.nominal_flops("linear", 48)


def test_rotation_start_state_is_trained_like_fixed_and_shared_with_torch():
    """The linear interventions start at ‖A‖₁ = 1.2·√H (analyses.py docstring), the same X on both backends."""
    import numpy as np
    from onionref.onion.interventions import rotation
    for H in (8, 48):
        X = bench_analyses.rotation_start(H)
        A = rotation.skew(X.astype(np.float64))
        assert X.dtype == np.float32 and np.array_equal(X, bench_analyses.rotation_start(H))
        assert np.abs(A).sum(axis=0).max() == pytest.approx(bench_analyses.START_NORM * np.sqrt(H), rel=1e-6)
        assert np.array_equal(np.diag(X), -np.ones(H, np.float32)) and not np.triu(X, 1).any()
    # onionref's expm cost follows β = min ‖A²ᵏ‖₁^(1/2k) ≥ ‖A‖₂: at H 48 inside the trained runs' 1.9–3.0
    A = rotation.skew(bench_analyses.rotation_start(48).astype(np.float64))
    powers = [np.linalg.matrix_power(A, 2 * k) for k in (1, 2, 3)]
    assert 1.9 <= min(np.abs(P).sum(axis=0).max() ** (0.5 / k) for k, P in enumerate(powers, 1)) <= 3.0
    from onionref.onion import seq2seq
    from onionref.onion.frozen import Frozen
    frozen = Frozen(seq2seq.init_params(8, 5, 6, np.random.default_rng(0)), 5, False, "numpy")
    for name in ("linear", "bigram-cayley"):
        params, _ = bench_analyses.start_params(bench_analyses.method_of(name), frozen)
        assert np.array_equal(params["X"], bench_analyses.rotation_start(8))
    assert "X" not in bench_analyses.start_params(bench_analyses.method_of("onion"), frozen)[0]
    pytest.importorskip("torch")
    from onionref.bench import torch_analyses
    sub = torch_analyses.Subspace(8, 1)
    assert np.array_equal(sub.rot.parametrizations.weight.original.detach().numpy(), bench_analyses.rotation_start(8))


@pytest.mark.parametrize("args", [["--hidden", "0"], ["--hidden", "abc"], ["--hidden", "48,"], ["--steps", "0"],
                                  ["--threads", "0"], ["--backends", "jax"], ["--methods", "onion"],
                                  ["--analyses", "--methods", "onion,nope"], ["--cells", "transformer"],
                                  ["--cells", "lstm", "--threads", "2"], ["--cells", "alrnn-p9", "--hidden", "8"],
                                  ["--cells", "lstm", "--alrnn"]])
def test_bench_bad_input_is_one_line_exit_2(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", *args])  # rejected before anything is timed, so in-process is safe
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert err.startswith("onionref: error:") and err.count("\n") == 1, err
    assert out == ""


def test_nominal_flops():
    assert bench.nominal_flops(48) == 36 * 48 * 48 * 256 * 18


def test_bench_sweep_rows_pair_workers_with_threads_per_job(capsys):
    """`bench --sweep --workers 1,1 --threads-per-job 1,2`: one row per pair, every job of a row on its threads."""
    from runhelpers import call_main
    code, out, err = call_main(["bench", "--sweep", "--workers", "1,1", "--threads-per-job", "1,2", "--train-steps", "3",
                                "--analysis-steps", "2", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert [(r["workers"], r["threads_per_job"]) for r in res["rows"]] == [(1, 1), (1, 2)]
    assert all(r["jobs"] == 12 and r["worker_pids"] == 1 for r in res["rows"]) and res["grid"]["name"] == "small"
    code, _, err = call_main(["bench", "--grid", "large"], capsys)
    assert code == 2 and "--grid does not apply here" in err

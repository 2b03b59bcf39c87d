"""`onionref capacity` (reference/onion/capacity.py): exact match and onion IIA per length per (H, max_len),
measured capacity against the footprint's prediction.

- on three tiny trained runs (two seeds at max_len 5, one at max_len 6, an onion intervention on one): the groups,
  every statistic equal to the hand computation from the runs' own precision.json and onion result.json files,
  precision.json written when missing, reused when made with the same n, recomputed when made with another;
- the measured-capacity rule (the longest length at or above the threshold) on a run whose precision.json holds
  known per-length values; its monotonicity in the threshold (hypothesis);
- the CLI writes capacity.json and capacity.png, --json is one JSON line, unfinished runs are skipped.
"""
from __future__ import annotations

import json
import shutil
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onionref.onion.capacity import capacity, measured_capacity
from onionref.onion.precision import TYPES
from runhelpers import analysis_args, assert_stats_equal, call_main, hand_stats, no_plots, train_args

N = 120     # sequences per precision report: small, the tests are about the bookkeeping
RUNS = {"a": dict(max_len=5, seed=3), "b": dict(max_len=5, seed=4), "c": dict(max_len=6, seed=3)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three tiny runs (H 8): a and b at max_len 5 (seeds 3, 4), c at max_len 6; a has an onion intervention."""
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    root = tmp_path_factory.mktemp("capacity")
    try:
        for name, over in RUNS.items():
            assert main(train_args(root / name, steps=20, eval_every=10, **over)) == 0
        assert main(["intervene", str(root / "a"), "--mode", "onion"] + analysis_args(steps=6, eval_every=3)) == 0
    finally:
        mp.undo()
    return root


@pytest.fixture
def runs_copy(trained, tmp_path):
    dst = tmp_path / "runs"
    shutil.copytree(trained, dst)
    return dst


def test_groups_and_stats_are_the_files_own_numbers(runs_copy):
    dirs = [runs_copy / k for k in RUNS]
    assert not any((d / "precision.json").exists() for d in dirs)
    res = capacity(dirs, 0.5, N)
    assert all((d / "precision.json").is_file() for d in dirs)                   # cached where missing
    assert all((d / "precision.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for d in dirs)   # with its figure
    assert [(g["hidden"], g["max_len"], g["seeds"]) for g in res["groups"]] == [(8, 5, [3, 4]), (8, 6, [3])]
    assert res["threshold"] == 0.5 and res["skipped"] == []
    prec = {k: json.loads((runs_copy / k / "precision.json").read_text()) for k in RUNS}
    onion = json.loads((runs_copy / "a" / "intervene" / "onion" / "result.json").read_text())
    for g, names in zip(res["groups"], (["a", "b"], ["c"])):
        assert g["runs"] == [str(runs_copy / k) for k in names]
        ps = [prec[k] for k in names]
        assert all(p["types"][t]["n"] == N for p in ps for t in TYPES)
        lengths = sorted({int(L) for p in ps for L in p["types"]["float64"]["per_length"]})
        assert sorted(map(int, g["per_length"])) == lengths
        for L in lengths:
            for t in TYPES:
                assert_stats_equal(g["per_length"][str(L)][t],
                       hand_stats([p["types"][t]["per_length"][str(L)] for p in ps
                               if str(L) in p["types"][t]["per_length"]]))
            if "a" in names and str(L) in onion["per_length"]:
                assert_stats_equal(g["per_length"][str(L)]["onion"], hand_stats([onion["per_length"][str(L)]]))
            else:
                assert "onion" not in g["per_length"][str(L)]
        for t in TYPES:
            assert_stats_equal(g["accuracy"][t], hand_stats([p["types"][t]["accuracy"] for p in ps]))
            assert g["predicted"][t] == min(p["predicted_positions"][t] for p in ps)
            mean = {L: statistics.fmean(p["types"][t]["per_length"][str(L)] for p in ps) for L in lengths}
            assert g["measured"][t] == max((L for L in lengths if mean[L] >= 0.5), default=0)
        assert_stats_equal(g["min_footprint"], hand_stats([min(p["footprint"]) for p in ps]))
        assert_stats_equal(g["min_footprint_over_u_bf16"], hand_stats([min(p["footprint"]) * 256 for p in ps]))
        if "a" in names:
            assert_stats_equal(g["onion"], hand_stats([onion["iia"]]))
        else:
            assert "onion" not in g


def test_precision_json_reused_when_same_n_recomputed_otherwise(runs_copy):
    run = runs_copy / "c"
    capacity([run], 0.5, N)
    first = (run / "precision.json").stat().st_mtime_ns
    capacity([run, run], 0.5, N)                                                 # a run given twice counts once
    assert (run / "precision.json").stat().st_mtime_ns == first
    res = capacity([run], 0.5, N // 2)
    assert json.loads((run / "precision.json").read_text())["types"]["float64"]["n"] == N // 2
    assert (run / "precision.png").stat().st_mtime_ns > first                    # the figure redrawn with it
    assert res["groups"][0]["per_length"]["5"]["float64"]["n"] == 1


def test_measured_capacity_rule_on_known_values(runs_copy):
    """a's precision.json rewritten with known float64 / bfloat16 exact match per length (a rule test: the numbers
    are not the model's)."""
    run = runs_copy / "a"
    capacity([run], 0.5, N)
    p = json.loads((run / "precision.json").read_text())
    known = {"float64": {"2": 0.9, "3": 0.8, "4": 0.4, "5": 0.7}, "bfloat16": {"2": 0.3, "3": 0.9, "4": 0.9, "5": 0.1}}
    for t, pl in known.items():
        p["types"][t]["per_length"] = pl
    (run / "precision.json").write_text(json.dumps(p))
    g = capacity([run], 0.5, N)["groups"][0]
    assert g["measured"]["float64"] == 5 and g["measured"]["bfloat16"] == 4     # L 4 (0.4) does not end float64's
    assert capacity([run], 0.75, N)["groups"][0]["measured"]["float64"] == 3
    assert capacity([run], 0.85, N)["groups"][0]["measured"]["float64"] == 2
    assert capacity([run], 0.95, N)["groups"][0]["measured"]["float64"] == 0


PER_LENGTH = st.dictionaries(st.integers(1, 30), st.floats(0, 1), min_size=1, max_size=12)


@given(pl=PER_LENGTH, t1=st.floats(0.01, 1), t2=st.floats(0.01, 1))
def test_measured_capacity_falls_as_the_threshold_rises(pl, t1, t2):
    lo, hi = sorted((t1, t2))
    assert measured_capacity(pl, hi) <= measured_capacity(pl, lo)
    m = measured_capacity(pl, lo)
    assert m == 0 or pl[m] >= lo                                                 # m is held
    assert all(v < lo for L, v in pl.items() if L > m)                           # no longer length is
    assert measured_capacity({str(k): v for k, v in pl.items()}, lo) == m        # JSON's string keys


def test_cli_writes_both_files_and_skips_unfinished(runs_copy, tmp_path, capsys, monkeypatch):
    no_plots(monkeypatch)
    shutil.copytree(runs_copy / "b", runs_copy / "unfinished")
    (runs_copy / "unfinished" / "DONE").unlink()
    out = tmp_path / "out"
    argv = ["capacity", *[runs_copy / k for k in (*RUNS, "unfinished")], "--out", out, "--n", N]
    rc, stdout, err = call_main(argv + ["--json"], capsys)
    assert rc == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    assert res == json.loads((out / "capacity.json").read_text())
    assert res["skipped"] == [str(runs_copy / "unfinished")] and len(res["groups"]) == 2
    assert not (runs_copy / "unfinished" / "precision.json").exists()
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc, stdout, err = call_main(argv + ["--threshold", "0.2"], capsys)
    assert rc == 0, err
    rows = stdout.splitlines()
    assert rows[0].split()[:3] == ["H", "max_len", "n"] and rows[1].split()[:3] == ["8", "5", "2"]
    assert rows[2].split()[:3] == ["8", "6", "1"] and "skipped" in rows[3] and "threshold 0.2" in rows[4]

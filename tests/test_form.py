"""`onionref form` (reference/onion/form.py): the onion and onion-free interventions of the same runs side by side.

- on tiny trained runs (two seeds at H 8 with both analyses, one at H 10): every statistic equal to the hand
  computation from the runs' own result.json files; the gap share (free − onion) / (model − onion);
- runs lacking an analysis, or whose two analyses ran different steps, are skipped with the reason, never mixed in;
  one hidden size at two budgets is refused;
- the CLI writes form.json and form.png, --json is one JSON line; bad input is one line, exit 2.
"""
from __future__ import annotations

import json
import shutil

import pytest

from onionref.onion.form import MIN_GAP, closed_share, form_gap
from runhelpers import (analysis_args, assert_one_line_error, assert_stats_equal, call_main, hand_stats, no_plots,
                        train_args)

RUNS = {"a": dict(hidden=8, seed=3), "b": dict(hidden=8, seed=4), "c": dict(hidden=10, seed=3)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three tiny runs, each with an onion and an onion-free intervention of 6 steps."""
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    root = tmp_path_factory.mktemp("form")
    try:
        for name, over in RUNS.items():
            assert main(train_args(root / name, steps=20, eval_every=10, **over)) == 0
            for mode in ("onion", "onion-free"):
                assert main(["intervene", str(root / name), "--mode", mode] + analysis_args(steps=6, eval_every=3)) == 0
    finally:
        mp.undo()
    return root


@pytest.fixture
def runs_copy(trained, tmp_path):
    dst = tmp_path / "runs"
    shutil.copytree(trained, dst)
    return dst


def _read(path):
    return json.loads(path.read_text())


def test_groups_equal_the_hand_computation(trained):
    res = form_gap([trained / n for n in RUNS])
    assert [g["hidden"] for g in res["groups"]] == [8, 10] and res["skipped"] == []
    g8 = res["groups"][0]
    assert g8["seeds"] == [3, 4] and g8["steps"] == 6
    model = [_read(trained / n / "result.json") for n in "ab"]
    onion = [_read(trained / n / "intervene" / "onion" / "result.json") for n in "ab"]
    free = [_read(trained / n / "intervene" / "onion-free" / "result.json") for n in "ab"]
    assert_stats_equal(g8["model"], hand_stats([m["accuracy"] for m in model]))
    assert_stats_equal(g8["onion"], hand_stats([o["iia"] for o in onion]))
    assert_stats_equal(g8["free"], hand_stats([f["iia"] for f in free]))
    for L, cell in g8["per_length"].items():
        assert_stats_equal(cell["model"], hand_stats([m["per_length"][L] for m in model]))
        assert_stats_equal(cell["onion"], hand_stats([o["per_length"][L] for o in onion]))
        assert_stats_equal(cell["free"], hand_stats([f["per_length"][L] for f in free]))
        shares = [s for s in (closed_share(m["per_length"][L], o["per_length"][L], f["per_length"][L])
                              for m, o, f in zip(model, onion, free)) if s is not None]
        if shares:
            assert_stats_equal(g8["closed_per_length"][L], hand_stats(shares))
        else:
            assert L not in g8["closed_per_length"]
    shares = [s for s in (closed_share(m["accuracy"], o["iia"], f["iia"]) for m, o, f in zip(model, onion, free))
              if s is not None]
    assert (g8["closed"] is None) == (not shares)
    if shares:
        assert_stats_equal(g8["closed"], hand_stats(shares))


def test_closed_share():
    assert closed_share(0.9, 0.8, 0.85) == pytest.approx(0.5)
    assert closed_share(0.9, 0.8, 0.7) == pytest.approx(-1.0)             # the free form did worse
    assert closed_share(0.9, 0.9 - MIN_GAP / 2, 0.95) is None             # no gap to close


def test_incomplete_or_unequal_runs_are_skipped_with_the_reason(runs_copy):
    shutil.rmtree(runs_copy / "b" / "intervene" / "onion-free")
    cfg = _read(runs_copy / "c" / "intervene" / "onion" / "result.json")
    (runs_copy / "c" / "intervene" / "onion" / "result.json").write_text(json.dumps({**cfg, "steps": 60000}))
    res = form_gap([runs_copy / n for n in RUNS])
    assert [g["hidden"] for g in res["groups"]] == [8] and res["groups"][0]["seeds"] == [3]
    reasons = dict(res["skipped"])
    assert "no finished onion-free" in reasons[str(runs_copy / "b")]
    assert "onion ran 60000 steps, onion-free 6" in reasons[str(runs_copy / "c")]


def test_one_size_at_two_budgets_is_refused(runs_copy, capsys):
    for form in ("onion", "onion-free"):
        p = runs_copy / "b" / "intervene" / form / "result.json"
        p.write_text(json.dumps({**_read(p), "steps": 12}))
    code, out, err = call_main(["form", runs_copy / "a", runs_copy / "b", "--out", runs_copy / "o"], capsys)
    assert_one_line_error(code, out, err, "H=8", "different steps")
    assert not (runs_copy / "o").exists()


def test_cli_writes_json_and_figure(trained, tmp_path, capsys):
    out = tmp_path / "form"
    code, stdout, err = call_main(["form", *[trained / n for n in RUNS], "--out", out, "--json"], capsys)
    assert code == 0, err
    assert len(stdout.strip().splitlines()) == 1
    assert json.loads(stdout) == _read(out / "form.json")
    assert (out / "form.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make,needle", [(lambda root: [root / "nope"], "not a run directory"),
                                         (lambda root: [root / "a" / "intervene"], "not a run directory")])
def test_bad_input_is_one_line(trained, tmp_path, capsys, make, needle):
    code, out, err = call_main(["form", *make(trained), "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, out, err, needle)


def test_no_comparable_run_is_one_line(runs_copy, capsys):
    shutil.rmtree(runs_copy / "a" / "intervene" / "onion")
    code, out, err = call_main(["form", runs_copy / "a", "--out", runs_copy / "o"], capsys)
    assert_one_line_error(code, out, err, "no run has both", "no finished onion intervention")

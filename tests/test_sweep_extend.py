"""`sweep --extend-rising-to N`: an analysis still rising at the sweep's budget is resumed up to N steps, and the
result equals the same analysis run for N steps in one go; a flat one stays at the budget; rerunning redoes nothing.
The rule itself is tested in test_convergence.py; here it is forced either way to test what the sweep does with it."""
from __future__ import annotations

from dataclasses import asdict, replace

import pytest

from onionref import runs
from onionref.errors import UserError
from onionref.onion import methods, sweep
from onionref.onion.analysis import run
from onionref.onion.frozen import Frozen
from onionref.onion.train import load_run
from runhelpers import assert_same_outputs, no_plots, outputs, tree_hashes

B = sweep.Budget(train_steps=30, analysis_steps=6, batch=32, eval_every=2, n_train=3000, backend="numpy")


@pytest.fixture()
def cell(tmp_path, monkeypatch):
    no_plots(monkeypatch)
    run_dir = tmp_path / "h8-ar-s0"
    sweep.train_job(str(run_dir), asdict(B.train_config(8, "ar", 0)))
    return run_dir


def _job(run_dir, rising, monkeypatch, extend=12):
    monkeypatch.setattr(sweep, "still_rising", lambda rows, metric, steps: rising)
    return sweep.analysis_job(str(run_dir), "onion", asdict(B.analysis_config()), extend_rising_to=extend)


def test_a_rising_analysis_is_extended_and_equals_one_run_of_that_length(cell, tmp_path, monkeypatch):
    res = _job(cell, True, monkeypatch)
    out = cell / "intervene/onion"
    assert res["steps"] == 12 and runs.read_config(out)["steps"] == 12 and (out / "DONE").exists()
    assert [r["step"] for r in runs.read_jsonl(out / "metrics.jsonl")] == [2, 4, 6, 8, 10, 12]
    model_cfg, params = load_run(cell)
    single = tmp_path / "single"
    run(methods.fitted(methods.intervention("onion"), model_cfg),
        Frozen(params, model_cfg.symbols, model_cfg.no_input, "numpy"), model_cfg,
        replace(B.analysis_config(), steps=12), single, "onion", progress=False)
    assert_same_outputs(outputs(out, "params.safetensors"), outputs(single, "params.safetensors"), "extended")
    # The same command again: the directory is what it must be, nothing runs, nothing changes.
    before = tree_hashes(cell)
    assert _job(cell, True, monkeypatch) == res and tree_hashes(cell) == before
    jobs = {j.key: j for j in sweep.plan(cell.parent, [(8, "ar", 0)], ["onion"], B, extend_rising_to=12)}
    assert jobs["h8-ar-s0/onion"].result == res


def test_a_flat_analysis_stays_at_the_budget(cell, monkeypatch):
    res = _job(cell, False, monkeypatch)
    assert res["steps"] == 6 and runs.read_config(cell / "intervene/onion")["steps"] == 6
    jobs = {j.key: j for j in sweep.plan(cell.parent, [(8, "ar", 0)], ["onion"], B, extend_rising_to=12)}
    assert jobs["h8-ar-s0/onion"].result == res


def test_a_finished_budget_run_is_resumed_when_the_extension_is_asked_later(cell, monkeypatch):
    """First the plain budget (no --extend-rising-to), then the same sweep with it: the rising analysis is resumed
    from its budget checkpoint, and plan() does not count it as finished before that."""
    assert sweep.analysis_job(str(cell), "onion", asdict(B.analysis_config()))["steps"] == 6
    monkeypatch.setattr(sweep, "still_rising", lambda rows, metric, steps: True)
    jobs = {j.key: j for j in sweep.plan(cell.parent, [(8, "ar", 0)], ["onion"], B, extend_rising_to=12)}
    assert jobs["h8-ar-s0/onion"].result is None
    assert _job(cell, True, monkeypatch)["steps"] == 12


def test_the_extension_must_lie_beyond_the_budget(tmp_path):
    with pytest.raises(UserError, match="--extend-rising-to 6 must be above --analysis-steps 6"):
        sweep.run_sweep(tmp_path / "s", hidden=(8,), analyses=("onion",), train_steps=30, analysis_steps=6,
                        extend_rising_to=6, workers=1, progress=False)
    assert not (tmp_path / "s").exists()

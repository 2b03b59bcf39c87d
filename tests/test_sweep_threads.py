"""`onionref sweep --threads-per-job N`: every job of the grid runs its fast path on N chunk threads, its run's
config.json records N, and its results are bit-identical to the same run made alone on N threads (so a thread count
fixed by the command, not by what else is running, keeps a sweep reproducible)."""
from __future__ import annotations

import pytest

from onionref import runs
from onionref.errors import UserError
from onionref.jit.threads import get_threads, set_threads
from onionref.onion import methods
from onionref.onion.analysis import run
from onionref.onion.frozen import Frozen
from onionref.onion.sweep import Budget, run_sweep
from onionref.onion.train import load_run, train
from runhelpers import assert_same_outputs, no_plots, outputs

KW = dict(hidden=(8,), seeds=1, variants=("ar",), analyses=("onion",), train_steps=30, analysis_steps=6, batch=32,
          eval_every=5, n_train=3000, backend="numba")


@pytest.mark.parametrize("threads", [1, 2])
def test_jobs_run_on_the_sweeps_thread_count_and_equal_a_single_run_on_it(tmp_path, monkeypatch, threads):
    no_plots(monkeypatch)
    out = tmp_path / "sweep"
    run_sweep(out, workers=1, progress=False, threads_per_job=threads, **KW)
    cell = out / "h8-ar-s0"
    assert runs.read_json(cell / "config.json")["threads"]["chunk_threads"] == threads
    assert runs.read_json(cell / "intervene/onion/config.json")["threads"]["chunk_threads"] == threads
    # The same training and analysis in this process on the same number of threads.
    b = Budget(train_steps=30, analysis_steps=6, batch=32, eval_every=5, n_train=3000, backend="numba")
    single, old = tmp_path / "single", get_threads()
    set_threads(threads)
    try:
        train(b.train_config(8, "ar", 0), single, progress=False)
        model_cfg, params = load_run(single)
        frozen = Frozen(params, model_cfg.symbols, model_cfg.no_input, model_cfg.backend)
        run(methods.fitted(methods.intervention("onion"), model_cfg), frozen, model_cfg, b.analysis_config(),
            single / "intervene/onion", "onion", progress=False)
    finally:
        set_threads(old)
    assert_same_outputs(outputs(cell, "weights.safetensors"), outputs(single, "weights.safetensors"), "train")
    assert_same_outputs(outputs(cell / "intervene/onion", "params.safetensors"),
                        outputs(single / "intervene/onion", "params.safetensors"), "onion")


def test_threads_per_job_below_one_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(UserError, match="--threads-per-job must be >= 1"):
        run_sweep(tmp_path / "s", workers=1, progress=False, threads_per_job=0, **KW)
    assert not (tmp_path / "s").exists()


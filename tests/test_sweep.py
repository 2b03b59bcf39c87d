"""`onionref sweep` on a LocalCluster: cells are ordinary single runs, a second run redoes nothing, a wider grid adds
only its new cells, and a driver SIGKILLed mid-sweep plus the same command again gives a sweep bit-identical (timing
fields aside) to an uninterrupted one."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import asdict

import psutil
from threadpoolctl import threadpool_limits

from onionref import runs
from onionref.onion.sweep import run_sweep
from runhelpers import (CLI, assert_same_outputs, call_main, check_files, no_plots, outputs, strip_timing,
                        tree_hashes)
from sweephelpers import (ANALYSIS_DIRS, CELLS, TINY_KW, TINY_SWEEP, assert_same_sweep, stop, sweep_args,
                          sweep_outputs, wait_gone)


def test_sweep_json_and_every_cell_is_what_the_single_run_commands_write(reference_sweep, tmp_path, monkeypatch,
                                                                          capsys):
    out, res = reference_sweep
    rec = runs.read_json(out / "sweep.json")
    assert rec["kind"] == "onion" and rec["format"] == "onionref-sweep/1" and "numba" in rec["versions"]
    assert rec["grid"] == {"hidden": [8], "variant": ["ar", "noinput"], "seed": [0],
                           "analysis": ["onion", "probe-linear"]}
    assert rec["budget"]["train_steps"] == 40 and rec["budget"]["analysis_steps"] == 6
    assert sorted(res["cells"]) == list(CELLS) and res["jobs"] == 6
    for cell in CELLS:
        assert sorted(res["cells"][cell]) == ["onion", "probe-linear", "train"]
        assert res["cells"][cell]["onion"] == runs.read_json(out / cell / "intervene/onion/result.json")
        assert check_files(out / cell) == [] and (out / cell / "DONE").exists()
    # The noinput cell against `onionref train --no-input`, then both analyses against intervene / probe.
    single = tmp_path / "single"
    no_plots(monkeypatch)
    flags = ["--hidden", 8, "--steps", 40, "--batch", 32, "--eval-every", 5, "--n-train", 3000, "--backend", "numpy",
             "--seed", 0, "--no-input", "--out", single, "--quiet"]
    stage2 = ["--steps", 6, "--batch", 32, "--eval-every", 5, "--quiet"]
    with threadpool_limits(1):             # the sweep's workers run on one thread
        assert call_main(["train"] + flags, capsys)[0] == 0
        assert call_main(["intervene", single, "--mode", "onion"] + stage2, capsys)[0] == 0
        assert call_main(["probe", single, "--kind", "linear"] + stage2, capsys)[0] == 0
    cell = out / "h8-noinput-s0"
    assert_same_outputs(outputs(cell, "weights.safetensors"), outputs(single, "weights.safetensors"), "train")
    for a in ANALYSIS_DIRS:
        assert_same_outputs(outputs(cell / a, "params.safetensors"), outputs(single / a, "params.safetensors"), a)
    assert runs.read_config(cell) == runs.read_config(single)


def test_rerun_redoes_nothing_adopts_pretrained_cells_and_a_wider_grid_adds_only_new_cells(reference_sweep,
                                                                                          tmp_path):
    ref, ref_res = reference_sweep
    out = tmp_path / "sweep"
    shutil.copytree(ref, out)
    (out / "sweep.json").unlink()          # cells trained before the sweep: adopted, not redone
    before = tree_hashes(out)
    res = run_sweep(out, workers=1, progress=False, **TINY_KW)
    assert res["cells"] == ref_res["cells"]                        # read back, timing fields included
    assert tree_hashes(out) == {**before, "sweep.json": tree_hashes(out)["sweep.json"]}
    again = tree_hashes(out)
    run_sweep(out, workers=1, progress=False, **TINY_KW)
    assert tree_hashes(out) == again
    wider = run_sweep(out, workers=1, progress=False, **{**TINY_KW, "variants": ("ar",), "seeds": 2})
    assert sorted(wider["cells"]) == ["h8-ar-s0", "h8-ar-s1"]
    now = tree_hashes(out)
    assert {k: now[k] for k in again if k != "sweep.json"} == {k: v for k, v in again.items() if k != "sweep.json"}
    new = sorted({k.split("/")[0] for k in set(now) - set(again)})
    assert new == ["h8-ar-s1"] and (out / "h8-ar-s1/probe/linear/DONE").exists()
    assert runs.read_json(out / "sweep.json")["grid"]["seed"] == [0, 1]


def _in_progress(out) -> list:
    """Run directories of the sweep that hold a checkpoint but no DONE (interrupted mid-job)."""
    return [str(p.parent.relative_to(out)) for p in out.rglob("checkpoint.safetensors")
            if not (p.parent / "DONE").exists()]


def test_driver_killed_mid_sweep_then_the_same_command_finishes_identically(reference_sweep, tmp_path):
    ref, _ = reference_sweep
    out = tmp_path / "sweep"
    args = CLI + [str(a) for a in sweep_args(out, "--workers", "2", "--json")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    family = []
    try:
        t0 = time.monotonic()
        while not _in_progress(out):               # a training job has checkpointed but not finished
            assert proc.poll() is None, f"the sweep ended before the kill: {proc.stderr.read().decode()}"
            assert time.monotonic() - t0 < 120, "no checkpoint within two minutes"
            time.sleep(0.01)
        family = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        proc.wait(30)
        # The LocalCluster's worker processes notice that their driver is gone and exit.
        assert wait_gone(family, 30) == [], "worker processes outlived their driver"
    finally:
        stop([proc] + family)
    interrupted = _in_progress(out)
    assert interrupted, "the kill landed after every started job had finished"
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(res["cells"]) == list(CELLS)
    assert_same_sweep(sweep_outputs(out), sweep_outputs(ref), f"after a driver kill with {interrupted} in progress")
    assert strip_timing(res["cells"]["h8-ar-s0"]["onion"]) == strip_timing(
        runs.read_json(ref / "h8-ar-s0/intervene/onion/result.json"))
    assert all(check_files(out / c) == [] for c in CELLS)


def test_analysis_names_and_the_jobs_of_a_grid(tmp_path):
    from onionref.onion.sweep import ANALYSES, Budget, expand_analyses, plan
    names = expand_analyses("all")
    assert names == ["linear", "bigram", "onion", "onion-noscale", "probe-linear", "probe-mlp", "probe-onion",
                     "probe-gru-ar", "probe-gru-noinput"]
    assert expand_analyses("onion,probe-mlp,onion") == ["onion", "probe-mlp"]
    assert [ANALYSES[a] for a in ("bigram", "probe-gru-noinput")] == [("intervene", "bigram"), ("probe", "gru-noinput")]
    jobs = plan(tmp_path, [(48, "ar", 0), (48, "noinput", 1)], names, Budget())
    assert [j.key for j in jobs[:2]] == ["h48-ar-s0/train", "h48-ar-s0/linear"] and len(jobs) == 20
    assert all(j.deps == (j.key.split("/")[0] + "/train",) for j in jobs if not j.key.endswith("/train"))
    noinput = next(j for j in jobs if j.key == "h48-noinput-s1/train").kwargs["config"]
    assert noinput["no_input"] is True and noinput["seed"] == 1 and noinput["steps"] == 40_000
    assert not any(tmp_path.iterdir())             # planning writes nothing


def test_a_job_waits_while_another_process_holds_its_directory(reference_sweep, tmp_path):
    import threading

    from onionref.onion.sweep import Budget, analysis_job
    ref, _ = reference_sweep
    cell = tmp_path / "h8-ar-s0"
    shutil.copytree(ref / "h8-ar-s0", cell)
    shutil.rmtree(cell / "intervene")
    (cell / "intervene/onion").mkdir(parents=True)
    cfg = asdict(Budget(analysis_steps=6, batch=32, eval_every=5).analysis_config())
    got = {}
    with threadpool_limits(1):                             # the sweep's workers run on one thread
        with runs.RunLock(cell / "intervene/onion"):        # as a killed worker's task still exiting would
            job = threading.Thread(target=lambda: got.update(analysis_job(str(cell), "onion", cfg)))
            job.start()
            job.join(1.5)
            assert job.is_alive() and not (cell / "intervene/onion/DONE").exists()
        job.join(120)
    assert not job.is_alive() and (cell / "intervene/onion/DONE").exists()
    assert strip_timing(json.loads(runs.to_json(got))) == strip_timing(
        runs.read_json(ref / "h8-ar-s0/intervene/onion/result.json"))

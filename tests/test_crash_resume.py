"""Crash and resume: SIGKILL a run at moments chosen by a seeded RNG, resume it each time, and require the final
outputs to be bit-identical to an uninterrupted run, with no half-written file ever visible.

"Bit-identical" covers the final weights, the checkpoint (parameters + optimizer moments), every metrics.jsonl row
and result.json, except the wall-clock fields (`elapsed_s` in metrics rows; `seconds` /
`train_seconds_this_session` in results), which measure time and differ between any two runs.

While a process runs and after every kill, every file in the run directory must parse (JSON, JSONL, safetensors,
PNG, empty DONE); only temp files named `.<name>.<random>.tmp` (a killed writer's leftovers) are exempt, and the
next process to take the lock removes them. A kill that lands before the first checkpoint leaves nothing to resume:
the test then re-runs the command without --resume, in the same directory, which must start over cleanly.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from onionref import runs
from onionref.cli import main
from runhelpers import (tiny_trained_run, CLI, TINY_TRAIN, analysis_args, assert_same_outputs, check_files, no_plots, outputs,
                        train_args)

POLL_S = 0.003
KILLS = {"train": 0, "intervene": 0, "probe": 0}   # kill points that landed on a running process


def _max_row(path: Path) -> int:
    try:
        return max((r["step"] for r in runs.read_jsonl(path)), default=0)
    except (runs.UserError, FileNotFoundError):
        return 0


def _ckpt_step(path: Path) -> int:
    try:
        return int(runs.load_arrays(path)[1]["step"])
    except (runs.UserError, FileNotFoundError, KeyError):
        return 0


def _launch_and_kill(args, run_dir: Path, trigger, every: int):
    """Start `onionref ARGS`, watch run_dir (checking every file each poll), SIGKILL it when `trigger` fires.

    trigger: ("row", k)   a metrics row for step >= k appeared (the checkpoint of step k is usually not yet written)
             ("ckpt", k)  the checkpoint of step >= k is in place
             ("delay", s) s seconds after the start, or at the first metrics row this process writes if that comes
                         first (on a fast machine a tiny run can otherwise finish inside s, and nothing is killed)
    Every trigger counts only progress made by this process (k is raised above what is on disk).
    Returns True if the process was killed while running, False if it finished first."""
    kind, k = trigger
    done = max(_max_row(run_dir / "metrics.jsonl"), _ckpt_step(run_dir / "checkpoint.safetensors"))
    next_row = (done // every + 1) * every
    if kind in ("row", "ckpt"):
        k = max(k, next_row)
    proc = subprocess.Popen(CLI + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while proc.poll() is None:
            if run_dir.exists():
                check_files(run_dir)
            fire = (kind == "delay" and (time.monotonic() - t0 >= k or _max_row(run_dir / "metrics.jsonl") >= next_row)
                    or kind == "row" and _max_row(run_dir / "metrics.jsonl") >= k
                    or kind == "ckpt" and _ckpt_step(run_dir / "checkpoint.safetensors") >= k)
            if fire:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                return proc.returncode == -signal.SIGKILL
            assert time.monotonic() - t0 < 240, "a tiny run took over four minutes"
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, f"onionref {' '.join(map(str, args))} failed: {err}"
    return False


def _crash_and_resume(args, run_dir: Path, triggers, every: int, label: str) -> list:
    """Run `args` to completion through the kills in `triggers`; returns the checkpoint step seen after each."""
    history = []
    for trig in triggers:
        resume = (run_dir / "checkpoint.safetensors").exists()
        killed = _launch_and_kill(args + (["--resume"] if resume else []), run_dir, trig, every)
        check_files(run_dir)  # whole files after the kill (temp files of the killed writer aside)
        history.append((trig, killed, _ckpt_step(run_dir / "checkpoint.safetensors")))
        KILLS[label] += killed
    resume = (run_dir / "checkpoint.safetensors").exists()
    final = subprocess.run(CLI + [str(a) for a in args] + (["--resume"] if resume else []),
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert check_files(run_dir) == [], "temp files survived a completed run"
    assert (run_dir / "DONE").exists() and not (run_dir / "FAILED").exists()
    # Several kills must have landed, at least one of them after a checkpoint (a real resume).
    assert sum(k for _, k, _ in history) >= len(triggers) - 1, history
    assert any(k and s > 0 for _, k, s in history), history
    print(f"{label}: {sum(k for _, k, _ in history)} kill points survived: {history}")
    return history


def _triggers(rng, steps: int, every: int, n_ckpt: int) -> list:
    """One early random delay (before the first checkpoint, or racing it), then row / checkpoint triggers at
    increasing steps drawn by the seeded RNG, then a last delay. The row / checkpoint steps stop two evaluations
    short of the end, so the last delay still has a row of progress to land before."""
    ks = sorted(rng.choice(np.arange(every, steps - 2 * every + 1, every), size=n_ckpt, replace=False).tolist())
    kinds = ["row", "ckpt"] * n_ckpt
    return ([("delay", float(rng.uniform(0.2, 1.2)))] + [(kinds[i], k) for i, k in enumerate(ks)]
            + [("delay", float(rng.uniform(0.5, 2.5)))])


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A tiny trained run (in-process), the frozen model of the analysis crash tests."""
    return tiny_trained_run(tmp_path_factory, "crash", steps=20, eval_every=10)


def test_train_killed_and_resumed_is_bit_identical(tmp_path, monkeypatch):
    rng = np.random.default_rng(20260501)
    every, steps = TINY_TRAIN["eval_every"], TINY_TRAIN["steps"]
    ref = tmp_path / "ref"
    with monkeypatch.context() as mp:
        no_plots(mp)
        assert main(train_args(ref)) == 0
    crashed = tmp_path / "crashed"
    hist = _crash_and_resume(train_args(crashed), crashed, _triggers(rng, steps, every, 3), every, "train")
    assert_same_outputs(outputs(crashed, "weights.safetensors"), outputs(ref, "weights.safetensors"),
                        f"train after kills {hist}")


@pytest.mark.parametrize("cmd, flag, name", [("intervene", "--mode", "onion"), ("probe", "--kind", "gru-ar")])
def test_analysis_killed_and_resumed_is_bit_identical(base_run, tmp_path, monkeypatch, cmd, flag, name):
    rng = np.random.default_rng({"onion": 11, "gru-ar": 12}[name])
    steps, every = 24, 3
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    shutil.copytree(base_run, ref)
    shutil.copytree(base_run, crashed)
    args = lambda run: [cmd, str(run), flag, name] + analysis_args(steps=steps, eval_every=every)  # noqa: E731
    with monkeypatch.context() as mp:
        no_plots(mp)
        assert main(args(ref)) == 0
    out = crashed / cmd / name
    out_ref = ref / cmd / name
    hist = _crash_and_resume(args(crashed), out, _triggers(rng, steps, every, 2), every, cmd)
    assert_same_outputs(outputs(out, "params.safetensors"), outputs(out_ref, "params.safetensors"),
                        f"{cmd} {name} after kills {hist}")
    # The frozen model was never touched.
    assert (crashed / "weights.safetensors").read_bytes() == (base_run / "weights.safetensors").read_bytes()

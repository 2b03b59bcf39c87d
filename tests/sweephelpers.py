"""Shared helpers of the sweep tests: the tiny grid, the CLI arguments for it, whole-sweep comparisons, and
cleanup of every process a test starts."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from runhelpers import assert_same_outputs, outputs

# A tiny grid: two cells (both decoder variants), two analyses each; about a second of work per job.
TINY_SWEEP = dict(hidden="8", seeds="1", variants="ar,noinput", analyses="onion,probe-linear", train_steps="40",
                  analysis_steps="6", batch="32", eval_every="5", n_train="3000", backend="numpy")
TINY_KW = dict(hidden=(8,), seeds=1, variants=("ar", "noinput"), analyses=("onion", "probe-linear"), train_steps=40,
               analysis_steps=6, batch=32, eval_every=5, n_train=3000, backend="numpy")
CELLS = ("h8-ar-s0", "h8-noinput-s0")
ANALYSIS_DIRS = ("intervene/onion", "probe/linear")


def sweep_args(out: Path, *extra, **over) -> list:
    flags = {**TINY_SWEEP, **over}
    return (["sweep", "--out", str(out), "--quiet"] + [a for k, v in flags.items()
                                                       for a in (f"--{k.replace('_', '-')}", str(v))] + list(extra))


def sweep_outputs(out: Path) -> dict:
    """Every cell's and analysis's weights, checkpoint, metrics and result (timing fields stripped)."""
    got = {}
    for cell in CELLS:
        got[cell] = outputs(out / cell, "weights.safetensors")
        for a in ANALYSIS_DIRS:
            got[f"{cell}/{a}"] = outputs(out / cell / a, "params.safetensors")
    return got


def assert_same_sweep(a: dict, b: dict, what: str) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert_same_outputs(a[k], b[k], f"{what}: {k}")


def stop(procs, timeout: float = 10) -> None:
    """SIGKILL every process in `procs` (psutil.Process or Popen) that is still alive, and reap it."""
    for p in procs:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for p in procs:
        try:
            p.wait(timeout)
        except (psutil.NoSuchProcess, ChildProcessError):
            pass


def wait_gone(procs, timeout: float) -> list:
    """Wait up to `timeout` s for the processes to exit; return those still alive."""
    t0 = time.monotonic()
    alive = list(procs)
    while alive and time.monotonic() - t0 < timeout:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    return alive

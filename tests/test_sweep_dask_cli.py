"""`onionref sweep --scheduler` on a real Dask cluster started by hand, as docs/onion.md says: `dask scheduler` and two
`dask worker --nthreads 1` processes on 127.0.0.1. The tiny grid runs through them with results identical to the
LocalCluster reference; then one worker is SIGKILLed while it trains a cell, and the sweep still finishes, with
every cell identical to the uninterrupted reference (the job is rescheduled and resumes from its checkpoint)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from distributed import Client

from onionref.sweep.engine import ONE_THREAD_ENV
from runhelpers import CLI, check_files
from sweephelpers import CELLS, assert_same_sweep, stop, sweep_args, sweep_outputs

DASK = [sys.executable, "-m", "dask"]          # the `dask` command of this environment


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, the worker processes): a scheduler and two single-threaded workers, all killed at the end."""
    d = tmp_path_factory.mktemp("dask")
    addr = f"tcp://127.0.0.1:{_free_port()}"
    # One job per worker at a time (the scheduler's default saturation queues a second one on a busy worker).
    env = {**os.environ, **ONE_THREAD_ENV, "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
    procs = []

    def start(args, name):
        log = open(d / f"{name}.log", "w")
        procs.append(subprocess.Popen(DASK + args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=d))

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", addr.rsplit(":", 1)[1], "--no-dashboard"], "scheduler")
        for i in range(2):
            start(["worker", addr, "--nthreads", "1", "--name", f"w{i}", "--no-dashboard",
                   "--local-directory", str(d / f"w{i}")], f"worker{i}")
        t0 = time.monotonic()
        while True:
            try:
                with Client(addr, timeout="5s") as c:
                    c.wait_for_workers(2, timeout=90)
                break
            except OSError:                         # the scheduler is not listening yet
                assert time.monotonic() - t0 < 90, "the Dask scheduler did not start"
                time.sleep(0.5)
        yield addr
    finally:
        family = [c for p in procs if p.poll() is None for c in _children(p)]
        stop(procs + family)


def _children(p):
    try:
        return psutil.Process(p.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _sweep(out, addr):
    return subprocess.Popen(CLI + [str(a) for a in sweep_args(out, "--scheduler", addr, "--json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc) -> dict:
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        stop([proc])
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_grid_runs_on_a_dask_scheduler_and_two_workers_started_by_hand(cluster, reference_sweep, tmp_path):
    ref, _ = reference_sweep
    out = tmp_path / "sweep"
    with Client(cluster, timeout="10s") as c:
        before = c.run(lambda dask_worker: dask_worker.state.executed_count)
        res = _finish(_sweep(out, cluster))
        ran = c.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sorted(res["cells"]) == list(CELLS)
    assert sorted(before) == sorted(ran) and all(ran[w] > before[w] for w in ran), (before, ran)  # both worked
    assert_same_sweep(sweep_outputs(out), sweep_outputs(ref), "on a Dask cluster started by hand")


def test_a_worker_sigkilled_mid_sweep_is_survived_with_identical_results(cluster, reference_sweep, tmp_path):
    ref, _ = reference_sweep
    out = tmp_path / "sweep"
    proc, killed = _sweep(out, cluster), None
    try:
        with Client(cluster, timeout="10s") as c:
            t0 = time.monotonic()
            while killed is None:
                assert proc.poll() is None, f"the sweep ended before a kill: {proc.stderr.read()}"
                assert time.monotonic() - t0 < 120, "no training job checkpointed within two minutes"
                for addr, keys in c.processing().items():
                    for key in keys:
                        job = key.split("#")[0]
                        cell = out / job.split("/")[0]
                        if job.endswith("/train") and (cell / "checkpoint.safetensors").exists() \
                                and not (cell / "DONE").exists():
                            pid = c.run(os.getpid, workers=[addr])[addr]
                            os.kill(pid, signal.SIGKILL)
                            killed = (job, pid)
                            break
                    if killed:
                        break
                time.sleep(0.01)
    except BaseException:
        stop([proc])
        raise
    res = _finish(proc)
    assert not psutil.pid_exists(killed[1]) or psutil.Process(killed[1]).status() == psutil.STATUS_ZOMBIE
    assert sorted(res["cells"]) == list(CELLS)
    assert_same_sweep(sweep_outputs(out), sweep_outputs(ref), f"after SIGKILL of the worker training {killed[0]}")
    assert all(check_files(out / cell) == [] for cell in CELLS)

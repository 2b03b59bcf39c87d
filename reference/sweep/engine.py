"""The one sweep engine: a grid of jobs with dependencies, run on Dask distributed.

A *job* is one call `fn(**kwargs)` that owns one run directory: training a model, or one analysis of a trained
model. Jobs are idempotent (a finished run directory is read back, an interrupted one resumes from its checkpoint),
so running a sweep again, after a crash or with a wider grid, redoes nothing that is done. Dask does the rest:
ordering by `deps`, one single-threaded worker process per core (or the workers of a running cluster), and
rescheduling a job whose worker died, which then resumes from the job's last checkpoint.

    jobs = [Job("h48-s0/train", train_job, {...}), Job("h48-s0/onion", analysis_job, {...}, deps=("h48-s0/train",))]
    results = run_jobs(jobs, workers=2)          # {"h48-s0/train": {...}, "h48-s0/onion": {...}}
"""
from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from ..errors import UserError

# Each worker runs one job at a time: Numba, BLAS and OpenMP must not start threads of their own. A job's
# parallelism is its batch chunks on `threads_per_job` Python threads (jit/threads.py), BLAS on one under them.
ONE_THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                   "NUMBA_NUM_THREADS")}
# glibc's allocator in a worker, set before its process starts. Dask sets MALLOC_TRIM_THRESHOLD_=65536 there, and
# setting any such variable freezes glibc's mmap threshold at 128 KiB: every array above that (a step's states,
# gradients) is then a fresh mmap, page-faulted in and unmapped each step. Measured on a full-task copy sweep (150
# epochs, two sweeps side by side on the loaded 2-core machine): 9.9 s of system time against 1.8 with these, CPU
# time 48.0 s against 37.5, bit-identical weights. Dask's statistical profiler (every 10 ms, for the dashboard,
# which a sweep does not show) cost about 7% more CPU in the same test.
WORKER_PRE_SPAWN_ENV = {"MALLOC_MMAP_THRESHOLD_": 32 * 2**20, "MALLOC_TRIM_THRESHOLD_": 2**30}


@dataclass(frozen=True)
class Job:
    key: str                           # unique and readable: "h48-ar-s0/train", "h48-ar-s0/intervene-onion"
    fn: Callable[..., dict]            # a module-level function (importable in a worker); returns a small dict
    kwargs: dict = field(default_factory=dict)   # plain JSON-able arguments
    deps: tuple[str, ...] = ()         # keys of the jobs that must finish first
    result: dict | None = None         # known already (its run directory is finished): counted done, not submitted


def _call(fn, kwargs, threads, *deps_done):
    """Run one job inside a worker, with the fast path on `threads` chunk threads and BLAS pinned to one thread;
    returns (fn's value, {"start", "end": wall-clock seconds in the worker, "cpu": its CPU seconds, "pid",
    "threads"}). The thread count is fixed by the sweep, never by what else is running, so a job's result is the
    same every time it runs (it is bit-identical for a fixed thread count, and the run's config records it)."""
    from ..jit.threads import pin_blas, set_threads

    start, cpu = time.time(), time.process_time()
    pin_blas()
    set_threads(threads)
    value = fn(**kwargs)
    return value, {"start": start, "end": time.time(), "cpu": time.process_time() - cpu, "pid": os.getpid(),
                   "threads": threads}


def ordered(jobs: list[Job]) -> list[Job]:
    """The jobs in an order where every job comes after its dependencies; UserError on a bad graph."""
    by_key = {}
    for j in jobs:
        if j.key in by_key:
            raise UserError(f"two jobs share the key {j.key!r}")
        by_key[j.key] = j
    out, state = [], {}            # state: 1 = being visited, 2 = done

    def visit(j, path):
        if state.get(j.key) == 2:
            return
        if state.get(j.key) == 1:
            raise UserError(f"jobs depend on each other in a cycle: {' -> '.join(path + [j.key])}")
        state[j.key] = 1
        for d in j.deps:
            if d not in by_key:
                raise UserError(f"job {j.key!r} depends on {d!r}, which is not in the sweep")
            visit(by_key[d], path + [j.key])
        state[j.key] = 2
        out.append(j)

    for j in jobs:
        visit(j, [])
    return out


def default_workers(threads_per_job: int = 1) -> int:
    """One worker per `threads_per_job` cores of this process's CPU set (at least one)."""
    return max(1, len(os.sched_getaffinity(0)) // threads_per_job)


def _client(workers: int | None, scheduler: str | None, threads_per_job: int = 1):
    """A Dask client: on the running cluster at `scheduler`, or on a new LocalCluster of `workers` processes
    (default: one per `threads_per_job` cores), each running one job at a time."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="5s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {str(e).splitlines()[0]}") from None
    if threads_per_job < 1:
        raise UserError(f"--threads-per-job must be >= 1, got {threads_per_job}")
    n = workers or default_workers(threads_per_job)
    if n < 1:
        raise UserError(f"--workers must be >= 1, got {n}")
    # Saturation 1.0: the scheduler hands a worker its next job only when it is free, so a late or rescheduled job
    # goes to whichever worker frees first, and `processing` is exactly the job each worker is on.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.profile.enabled": False,
                          **{f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_PRE_SPAWN_ENV.items()}}):
        # dashboard_address ":0": the scheduler's HTTP server on a free port (None means 8787, which a second
        # sweep on the machine finds taken, and says so on stderr)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR, env=ONE_THREAD_ENV)
    return Client(cluster, set_as_default=False)


@contextmanager
def connect(workers: int | None = None, scheduler: str | None = None, threads_per_job: int = 1):
    """A Dask client for `run_jobs(..., client=)`, closed (with its LocalCluster, if it made one) on exit.
    Connecting first lets a caller refuse an unreachable scheduler before it writes anything. A LocalCluster
    gets one worker per `threads_per_job` cores unless `workers` says otherwise (pass the same to run_jobs)."""
    client = _client(workers, scheduler, threads_per_job)
    try:
        yield client
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


def run_jobs(jobs: list[Job], *, workers: int | None = None, scheduler: str | None = None,
             progress: bool = True, desc: str = "sweep", client=None, timings: dict | None = None,
             threads_per_job: int = 1) -> dict[str, dict]:
    """Run every job; return {key: fn's return value}. Jobs whose function raised, or whose dependency did, are
    reported together at the end as one UserError after every other job has finished. With `client` (from
    `connect`), run on it and leave it open; else connect to `scheduler` or start a LocalCluster of `workers`.
    `timings`, if given, receives {key: {"start", "end", "cpu", "pid", "threads"}} of every finished job (measured
    in its worker). Every job runs its fast path on `threads_per_job` chunk threads: with fewer jobs ready than
    cores (a lone training, the last analyses of a grid), fewer workers of more threads each keep the cores busy."""
    jobs = ordered(jobs)
    if not jobs:
        return {}
    if client is None:
        with connect(workers, scheduler, threads_per_job) as client:
            return _run_on(client, jobs, progress, desc, timings, threads_per_job)
    return _run_on(client, jobs, progress, desc, timings, threads_per_job)


def _executing(dask_scheduler) -> list:
    """Keys of the tasks the workers are running now (run on the scheduler; `processing` would also list every
    task already assigned to a worker and waiting there, which for dependent tasks is most of the grid)."""
    return [ts.key for ws in dask_scheduler.workers.values() for ts in ws.executing]


def _executing_keys(client) -> list:
    try:
        return client.run_on_scheduler(_executing)
    except Exception:                   # a remote scheduler without onionref installed: show what is assigned
        return [k for ks in client.processing().values() for k in ks]


def _run_on(client, jobs: list[Job], progress: bool, desc: str, timings: dict | None,
            threads_per_job: int = 1) -> dict[str, dict]:
    from distributed import wait
    from tqdm import tqdm

    run_id = uuid.uuid4().hex[:8]      # fresh Dask keys, so a long-lived scheduler never serves an old result
    futures, key_of, results, failed = {}, {}, {}, {}
    for j in jobs:
        if j.result is not None:
            results[j.key] = j.result
            continue
        f = client.submit(_call, j.fn, j.kwargs, threads_per_job, *[futures[d] for d in j.deps if d in futures],
                          key=f"{j.key}#{run_id}", pure=False)
        futures[j.key] = f
        key_of[f.key] = j.key
    cells = {}                         # "h48-ar-s0" of "h48-ar-s0/train": a cell is done when all its jobs are
    for j in jobs:
        cells.setdefault(j.key.split("/")[0], []).append(j.key)
    pending = set(futures.values())
    with tqdm(total=len(jobs), initial=len(results), desc=desc, unit="job", disable=not progress,
              dynamic_ncols=True) as bar, client.as_current():
        while pending:
            try:
                done, pending = wait(pending, timeout=2, return_when="FIRST_COMPLETED")
            except TimeoutError:       # nothing finished in 2 s (Dask raises): refresh the bar, wait again
                done = set()
            for f in done:
                if f.status == "finished":
                    results[key_of[f.key]], when = f.result()
                    if timings is not None:
                        timings[key_of[f.key]] = when
                else:
                    failed[key_of[f.key]] = f.exception()
                bar.update(1)
            busy = [key_of.get(k, str(k)) for k in _executing_keys(client)]
            busy = [k for k in busy if k not in results and k not in failed]   # the scheduler's view lags a little
            n_done = sum(all(k in results or k in failed for k in ks) for ks in cells.values())
            bar.set_postfix_str(f"cells {n_done}/{len(cells)}" + ("; on: " + ", ".join(sorted(busy)) if busy else ""),
                                refresh=True)
    if failed:
        first_key, first = next(iter(failed.items()))
        raise UserError(f"{len(failed)} of {len(jobs)} jobs failed; first {first_key}: "
                        f"{' '.join(str(first).split()) or type(first).__name__}")
    return {j.key: results[j.key] for j in jobs}


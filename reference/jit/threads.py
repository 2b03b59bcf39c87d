"""How the fast path uses the cores and memory: one batch chunk per thread, BLAS pinned to one thread, and
reusable per-thread workspaces.

Why Python threads and not Numba's `prange`: each chunk runs a whole time loop in one GIL-free Numba call, so a
step needs only one hand-off per thread, which a small thread pool does in tens of microseconds. `parallel=True`
drivers added 10-20 s to the cold compile (more than all the serial kernels together), and their OpenMP threads
spin while they wait, which on a 2-core machine shared with other work made a step several times slower than
one thread (measured); a pool's threads sleep while they wait.
"""
from __future__ import annotations

import functools
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_STATE = {"threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
          "pool": None}
_LOCAL = threading.local()


@functools.cache
def pin_blas() -> str:
    """Limit every loaded BLAS (NumPy's and SciPy's, which Numba's np.dot calls) to one thread, once per process.

    Parallelism comes from the chunk threads; a multi-threaded BLAS under them is nested oversubscription
    (measured up to 28× slower). Returns a description for the run's config.json."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's OpenBLAS so the limit reaches it too)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    return "batch chunks on Python threads running GIL-free Numba kernels; BLAS pinned to 1 thread"


def set_threads(n: int) -> None:
    """Use n threads (= n batch chunks) from now on. Results are bit-identical for a fixed n."""
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    if n != _STATE["threads"] and _STATE["pool"] is not None:
        _STATE["pool"].shutdown()
        _STATE["pool"] = None
    _STATE["threads"] = n


def get_threads() -> int:
    return _STATE["threads"]


def thread_record(backend: str) -> dict:
    """How a run used the cores, for its config.json: {"cpu_count", "backend", and on numba "parallelism",
    "chunk_threads"; "blas": [{"api", "threads"}]}. Pins BLAS first on numba, so the record shows the pinned count."""
    info = {"cpu_count": os.cpu_count(), "backend": backend}
    if backend == "numba":
        info["parallelism"] = pin_blas()
        info["chunk_threads"] = get_threads()
    from threadpoolctl import threadpool_info
    info["blas"] = [{"api": d.get("internal_api"), "threads": d.get("num_threads")} for d in threadpool_info()]
    return info


def chunk_bounds(batch: int) -> np.ndarray:
    """Row bounds [nc+1] of a batch's chunks: one chunk per thread, sizes differing by at most one."""
    return _bounds(max(1, min(_STATE["threads"], batch)), batch).copy()


@functools.lru_cache(maxsize=256)
def _bounds(nc: int, batch: int) -> np.ndarray:
    return np.array([c * batch // nc for c in range(nc + 1)], dtype=np.int64)


def run_chunks(fn, nc: int, *args) -> None:
    """fn(c, *args) for c = 0..nc-1: chunk 0 on the calling thread, the others on the pool. fn must be a
    `nogil=True` Numba function that writes only its own chunk's outputs."""
    if nc == 1:
        fn(0, *args)
        return
    if _STATE["pool"] is None:
        _STATE["pool"] = ThreadPoolExecutor(max_workers=max(1, _STATE["threads"] - 1),
                                            thread_name_prefix="onionref-chunk")
    futures = [_STATE["pool"].submit(fn, c, *args) for c in range(1, nc)]
    try:
        fn(0, *args)
    finally:
        for f in futures:
            f.result()


def workspace(name: str, shape: tuple, dtype=np.float32, zero: bool = False) -> np.ndarray:
    """A per-thread scratch array reused from call to call (one shape kept per name).

    Fresh multi-megabyte arrays every step cost as much as the step itself at H=48: each comes from mmap and pays
    a page fault per 4 KiB on first touch (measured 13 ms a step instead of 6.5 ms on one thread). Only for arrays
    that do not outlive the call that asked for them."""
    bufs = _LOCAL.__dict__.setdefault("bufs", {})
    a = bufs.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = bufs[name] = np.empty(shape, dtype)
    if zero:
        a.fill(0)
    return a


_SPARE: dict = {}  # (shape, dtype) -> arrays whose owner has died, ready for the next `owned` call of that shape


def owned(shape: tuple, dtype=np.float32) -> np.ndarray:
    """An array for a result that may outlive the call (a decode cache): recycled from a dead owner if one of the
    same shape is spare, else new. Stage 2 makes one such cache per step; fresh arrays would page-fault."""
    spare = _SPARE.get((shape, np.dtype(dtype)))
    return spare.pop() if spare else np.empty(shape, dtype)


def recycle_when_dead(owner, arrays) -> None:
    """Give `arrays` back to `owned` once `owner` is garbage (they must be reachable only through it)."""
    weakref.finalize(owner, _give_back, arrays)


def _give_back(arrays) -> None:
    for a in arrays:
        spare = _SPARE.setdefault((a.shape, a.dtype), [])
        if len(spare) < 4:
            spare.append(a)

"""jit/denormals.py: FTZ | DAZ inside a Numba kernel flushes denormals, and no thread is left with a changed MXCSR."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from onionref.cells import alrnn, alrnn_numba
from onionref.jit import denormals, threads

pytestmark = pytest.mark.skipif(not denormals.X86, reason="MXCSR exists only on x86")
CONTROL = 0xFFC0  # MXCSR's control bits (masks, rounding, FTZ, DAZ); the low six are sticky status flags


@njit
def _product(a, b, out, flush):
    old = denormals.flush_denormals() if flush else denormals.mxcsr()
    out[0] = a[0] * b[0]                   # 1e-20 · 1e-20 = 1e-40: a denormal result (FTZ)
    out[1] = b[1] * a[1]                   # 1e-39 · 2^30: a denormal operand, normal result (DAZ)
    inside = denormals.mxcsr()
    denormals.restore_mxcsr(old)
    return inside


def test_flush_sets_ftz_and_daz_inside_and_restores_after():
    a = np.array([1e-20, 2.0 ** 30], np.float32)
    b = np.array([1e-20, 1e-39], np.float32)
    out = np.zeros(2, np.float32)
    before = denormals.mxcsr()
    assert before & (denormals.FTZ | denormals.DAZ) == 0      # the process default: IEEE denormals
    _product(a, b, out, False)
    assert out[0] == np.float32(1e-20) * np.float32(1e-20) and 0 < out[0] < np.finfo(np.float32).tiny
    assert out[1] == np.float32(1e-39) * np.float32(2.0 ** 30) and out[1] > 0
    inside = _product(a, b, out, True)
    assert inside & 0x8040 == 0x8040 and inside & CONTROL == (before | 0x8040) & CONTROL
    assert out[0] == 0 and out[1] == 0
    assert denormals.mxcsr() & CONTROL == before & CONTROL


def _worker_mxcsr(n):
    """MXCSR of every pool thread (the pool has n - 1 workers; a barrier makes each read run on its own thread)."""
    import threading
    barrier = threading.Barrier(n - 1)

    def read():
        barrier.wait(timeout=10)
        return denormals.mxcsr() & CONTROL
    pool = threads._STATE["pool"]
    return sorted(f.result() for f in [pool.submit(read) for _ in range(n - 1)])


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_alrnn_kernels_leave_no_thread_with_a_changed_mxcsr(n_threads):
    rng = np.random.default_rng(0)
    p = alrnn.init(12, 3, 2, 1, rng)
    s = rng.standard_normal((20, 9, 2))
    old = alrnn_numba.get_threads()
    alrnn_numba.set_threads(n_threads)
    try:
        before = denormals.mxcsr() & CONTROL
        zs = alrnn_numba.forward(s, p)
        alrnn_numba.backward(np.ones_like(zs), zs, s, p)
        assert denormals.mxcsr() & CONTROL == before
        if n_threads > 1:
            assert _worker_mxcsr(n_threads) == [before] * (n_threads - 1)
    finally:
        alrnn_numba.set_threads(old)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_alrnn_kernels_flush_on_every_chunk_where_numpy_keeps_the_denormal(n_threads):
    # M 1, P 0, T 2, one row per chunk: z_0 = C s_0 = 1e-30, z_1 = W z_0 = 1e-40 (denormal); backward from
    # dL/dz_1 = 1e-30: dL/dz_0 = W·1e-30 = 1e-40 reaches dC through s_0 = 1 (s_1 = 0).
    p = {"A": np.zeros(0, np.float32), "W": np.full((1, 1), 1e-10, np.float32),
         "C": np.full((1, 1), 1e-30, np.float32), "h": np.zeros(1, np.float32)}
    s = np.zeros((2, 2, 1), np.float32)
    s[0] = 1
    dzs = np.zeros((2, 2, 1), np.float32)
    dzs[1] = 1e-30
    zs_ref, cache = alrnn.forward(s, np.zeros((2, 1), np.float32), p)
    dC_ref = alrnn.backward(dzs, cache)[2]["C"]
    assert zs_ref.dtype == np.float32 and np.all((zs_ref[1] > 0) & (zs_ref[1] < np.finfo(np.float32).tiny))
    assert 0 < dC_ref[0, 0] < np.finfo(np.float32).tiny
    old = alrnn_numba.get_threads()
    alrnn_numba.set_threads(n_threads)
    try:
        zs = alrnn_numba.forward(s, p)
        g = alrnn_numba.backward(dzs, zs, s, p)
    finally:
        alrnn_numba.set_threads(old)
    assert np.array_equal(zs[0], zs_ref[0]) and np.all(zs[1] == 0)
    assert g["C"][0, 0] == 0 and g["h"][0] == dzs[1].sum()


# Run in a child process: the parent (pytest, with torch loaded) must not start Numba's OpenMP threading layer.
_PRANGE = """
import json
import numpy as np, numba
from numba import njit, prange
from onionref.jit import denormals as d

@njit(parallel=True)
def flush(a, b, out, inside):
    for i in prange(out.shape[0]):
        old = d.flush_denormals()
        out[i] = a[i] * b[i]
        inside[i] = d.mxcsr()
        d.restore_mxcsr(old)

@njit(parallel=True)
def read(out):
    for i in prange(out.shape[0]):
        out[i] = d.mxcsr()

n = 64
a = np.full(n, 1e-20, np.float32)
out, inside, after = np.ones(n, np.float32), np.zeros(n, np.uint32), np.zeros(n, np.uint32)
before = int(d.mxcsr())
flush(a, a, out, inside)
read(after)
print(json.dumps({"layer": numba.threading_layer(), "threads": numba.get_num_threads(), "out": out.tolist(),
                  "inside": inside.tolist(), "after": after.tolist(), "before": before, "caller": int(d.mxcsr())}))
"""


def test_flush_per_prange_iteration_under_numbas_threading_layer():
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    res = json.loads(subprocess.run([sys.executable, "-c", _PRANGE], env=env, capture_output=True, text=True,
                                    check=True).stdout.splitlines()[-1])
    assert res["layer"] in ("omp", "tbb", "workqueue") and res["threads"] == 2
    assert all(x == 0 for x in res["out"]) and all(x & 0x8040 == 0x8040 for x in res["inside"])
    before = res["before"] & CONTROL       # every thread of Numba's pool, and the caller, as they were
    assert all(x & CONTROL == before for x in res["after"]) and res["caller"] & CONTROL == before

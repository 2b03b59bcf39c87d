"""jit/denormals.py: FTZ | DAZ inside a Numba kernel flushes denormals, and no thread is left with a changed MXCSR."""
from __future__ import annotations

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

"""Flush denormal floats to zero inside a Numba kernel, for the calling thread only, and put things back after.

Why: x86 cores handle a denormal (|x| < 1.18e-38 in float32) in microcode, about 100 cycles instead of one. In
the AL-RNN's backward pass with the spec's small W, the gradient sent back through time decays into the denormal
range within a few steps, and every later step (its GEMMs included) then runs on denormals: measured 16 ms for a
backward that takes 1.9 ms on normal-range numbers (M 50, T 100, batch 128).

How: the SSE control/status register MXCSR has two bits for this, FTZ (bit 15, 0x8000: a denormal result becomes
±0) and DAZ (bit 6, 0x0040: a denormal operand is read as ±0). `flush_denormals()` sets both and returns the
previous MXCSR; `restore_mxcsr(old)` writes it back. They compile to the `stmxcsr` / `ldmxcsr` instructions
(LLVM's `llvm.x86.sse.stmxcsr` / `llvm.x86.sse.ldmxcsr`). MXCSR belongs to one thread, so a kernel that runs on
several threads (jit/threads.py runs one batch chunk per thread; no Numba `prange` here) calls the pair at the
start and the end of each chunk's body, and BLAS called in between (pinned to the calling thread) flushes too.
No thread and no caller is left with a changed MXCSR (tests/test_denormals.py reads it before and after).
The fast paths start no Numba threading layer (`numba.threading_layer()` stays uninitialised); under one (`prange`,
here the "omp" layer) the pair works per iteration the same way: checked once, every iteration flushed and every pool
thread's MXCSR unchanged afterwards.

Numerics: flushing replaces numbers below 1.18e-38 by zero. Where they only ever enter sums next to normal-range
numbers they change nothing at float32 precision; they can change a result only where a denormal would have been
kept on its own. The NumPy reference does not flush and stays the specification.

On machines that are not x86 (no MXCSR), both are no-ops and `flush_denormals()` returns 0.
LLVM may move pure float arithmetic across the two calls (they order memory accesses and calls, not arithmetic on
values already in registers): a few operations next to the boundaries may then run unflushed, which is harmless.
"""
from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

FTZ, DAZ = 0x8000, 0x0040
_BITS = np.uint32(FTZ | DAZ)
X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def _mxcsr_call(builder, name, slot):
    i8p = ir.IntType(8).as_pointer()
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p]), name)
    builder.call(fn, [builder.bitcast(slot, i8p)])


@intrinsic
def _read_mxcsr(typingctx):
    """MXCSR of the calling thread (uint32); 0 where there is none."""
    def codegen(context, builder, signature, args):
        if not X86:
            return ir.Constant(ir.IntType(32), 0)
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _write_mxcsr(typingctx, value):
    """Set the calling thread's MXCSR to value (uint32); nothing where there is none."""
    def codegen(context, builder, signature, args):
        if X86:
            slot = cgutils.alloca_once_value(builder, args[0])
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


@njit(cache=True, nogil=True)
def mxcsr():
    """The calling thread's MXCSR (0 on non-x86)."""
    return _read_mxcsr()


@njit(cache=True, nogil=True)
def flush_denormals():
    """Set FTZ | DAZ for the calling thread; return the previous MXCSR, for `restore_mxcsr`."""
    old = _read_mxcsr()
    _write_mxcsr(old | _BITS)
    return old


@njit(cache=True, nogil=True)
def restore_mxcsr(old):
    """Put back the MXCSR that `flush_denormals` returned."""
    _write_mxcsr(old)

"""sgemm with transpose flags and β, callable from Numba code: C ← α·op(A)·op(B) + β·C on row-major arrays.

Numba's `np.dot(a, b, out)` covers only β = 0, and with a transposed view as argument it was measured 2× slower
than with a contiguous copy (the dW_hh = Σ d ghᵀ h product: 1.9 ms instead of 0.8 ms at H=48). This calls the
same BLAS that `np.dot` uses (SciPy's, through Numba's own helper `numba_xxgemm`, so compiled code still caches),
with our flags: W_hhᵀ needs no copy, weight gradients need no transposed copy, and β = 1 accumulates in place.

Row-major C [m, n] = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ, and a row-major [r, c] array is the
column-major [c, r] one with leading dimension c: so B goes first, with its own flag.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _sgemm_cm(typingctx, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major sgemm through numba_xxgemm (kind 's'); transa/transb are the ASCII codes of 'n' or 't'."""
    sig = types.int32(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        ll_char, ll_void_p = ir.IntType(8), ir.IntType(8).as_pointer()
        intp_t = context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [ll_char, ll_char, ll_char, intp_t, intp_t, intp_t,
                                                ll_void_p, ll_void_p, intp_t, ll_void_p, intp_t, ll_void_p,
                                                ll_void_p, intp_t])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        ta, tb, vm, vn, vk, valpha, va, vlda, vb, vldb, vbeta, vc, vldc = args
        tys = signature.args

        def ptr(ty, val):
            return builder.bitcast(context.make_array(ty)(context, builder, val).data, ll_void_p)

        def slot(val):
            p = cgutils.alloca_once_value(builder, val)
            return builder.bitcast(p, ll_void_p)

        def intp(ty, val):
            return context.cast(builder, val, ty, types.intp)

        return builder.call(fn, (ir.Constant(ll_char, ord("s")), builder.trunc(ta, ll_char), builder.trunc(tb, ll_char),
                                 intp(tys[2], vm), intp(tys[3], vn), intp(tys[4], vk), slot(valpha), ptr(tys[6], va),
                                 intp(tys[7], vlda), ptr(tys[8], vb), intp(tys[9], vldb), slot(vbeta), ptr(tys[11], vc),
                                 intp(tys[12], vldc)))

    return sig, codegen


_N, _T = np.int64(ord("n")), np.int64(ord("t"))


@njit(cache=True, nogil=True)
def gemm(trans_a, trans_b, alpha, a, b, beta, c):
    """c ← alpha·op(a)·op(b) + beta·c for C-contiguous 2-D float32 arrays; op(x) = xᵀ if trans_x else x.

    Shapes must agree (op(a) [m, k], op(b) [k, n], c [m, n]); they are not checked. alpha, beta: float32."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                c[i, j] *= beta
        return
    _sgemm_cm(_T if trans_b else _N, _T if trans_a else _N, n, m, k, alpha, b, b.shape[1], a, a.shape[1],
              beta, c, c.shape[1])


# OpenBLAS's x86-64 builds (SkylakeX kernels, SMALL_MATRIX_OPT) multiply products up to M·N·K = 10⁶ with a kernel
# that skips packing the operands; a GRU step's product at H = 48 and batch 256 (256·144·48 = 1.8·10⁶) is just over.
SMALL_MNK = 1_000_000
MIN_ROWS = 64


@njit(cache=True, nogil=True)
def gemm_rows(alpha, a, b, beta, c):
    """c ← alpha·a·b + beta·c (no transposes), as `gemm`, but in equal row blocks small enough for OpenBLAS's
    small-matrix kernel when blocks of at least MIN_ROWS rows get there (else in one call). Every row of c is the
    same dot products either way; measured at H = 48 (256 × 48 by 48 × 144, and 256 × 144 by 144 × 48): 30 → 23 µs
    a product. No gain (and no split) from H = 128 on, where a block would need under 64 rows."""
    m, n = c.shape
    blocks = row_blocks(m, n, a.shape[1])
    for i in range(blocks):
        r0, r1 = i * m // blocks, (i + 1) * m // blocks
        gemm(False, False, alpha, a[r0:r1], b, beta, c[r0:r1])


@njit(cache=True, nogil=True)
def row_blocks(m, n, k):
    """How many row blocks gemm_rows splits an m × k by k × n product into (1: none)."""
    rows = SMALL_MNK // max(n * k, 1)
    if m * n * k <= SMALL_MNK or rows < MIN_ROWS:
        return 1
    return (m + rows - 1) // rows


@njit(cache=True, nogil=True)
def transpose_plan(m, w):
    """How `gemm_nt` multiplies m rows by wᵀ (w [n, k]): (True, a contiguous copy of wᵀ [k, n]) where gemm_rows would
    split the product (small H: OpenBLAS's small-matrix kernel takes no transpose flag), else (False, w), since at
    large H the copy costs more than it saves (5 ms at H = 512) and the transpose flag is faster. Made once per call
    of a time loop, used at every step."""
    split = row_blocks(m, w.shape[0], w.shape[1]) > 1
    return split, (np.ascontiguousarray(w.T) if split else w)


@njit(cache=True, nogil=True)
def gemm_nt(a, w, split, w_op, c):
    """c ← a wᵀ (a [m', k] with m' ≤ the plan's m, w [n, k], c [m', n]); (split, w_op) = transpose_plan(m, w)."""
    if split:
        gemm_rows(np.float32(1.0), a, w_op, np.float32(0.0), c)
    else:
        gemm(False, True, np.float32(1.0), a, w, np.float32(0.0), c)

"""The onion probe's head (probes/onion.py) as one Numba kernel per batch chunk: peeling, LayerNorm, classifier,
cross-entropy, exact match and the whole backward pass, float32.

    h_0 = h_enc,  h_{t+1} = h_t − E[y_t] ⊙ sc_t        (sc = scale_forward(params, 0..T−1), [T, H])
    logits_t = W2 ReLU(W1 LN(h_t) + b1) + b2           at the valid positions (mask [T, B]) only
The valid positions of a chunk are packed sequence by sequence (row i = (b, t) for b in the chunk, t with
mask[t, b]), so the classifier is two GEMMs over all of them and the peeling's backward, d layer_t = −Σ_{p>t} dh_p,
is one reverse running sum per sequence. The logits are class-major [C, n] (head_numba's layout). Each chunk writes
its own partial gradients, summed in chunk order, so results are bit-identical for a fixed thread count.
The γ/g/ℓ/b gradients come from d sc [T, H] through interventions/onion.scale_backward (NumPy, T·H numbers).
"""
from __future__ import annotations

import math
import sys

import numpy as np
from numba import njit

from ...cells.gru_numba_kernels import JIT
from ...cells.head_numba import (argmax_columns, checked_targets, cross_entropy_columns, head_backward_chunk,
                                 head_forward_chunk)
from ...jit import blas, math32
from ...jit.blas import gemm
from ...cells import dense_numba, gru_numba_kernels, head_numba
from ...cells.dense_numba import linear_relu_backward, linear_relu_forward
from ...jit.cache import drop_stale_cache
from ...jit.threads import chunk_bounds, pin_blas, run_chunks, workspace

_F = np.float32
EPS = _F(1e-5)  # layers.layer_norm_forward's ε


@njit(**JIT)
def _peel(b0, b1, h, E, sc, target, mask, hs, y):
    """hs[i] = h_t of the i-th valid position (b, t) of rows b0..b1 (packed by sequence); y[i] its target."""
    H, T = h.shape[1], mask.shape[0]
    cur = np.empty(H, _F)
    i = 0
    for b in range(b0, b1):
        cur[:] = h[b]
        for t in range(T):
            if mask[t, b]:
                hs[i, :] = cur
                y[i] = target[t, b]
                i += 1
            e = target[t, b]
            for j in range(H):
                cur[j] -= E[e, j] * sc[t, j]


@njit(**JIT)
def _layer_norm(hs, w, bias, xhat, inv, x):
    """x = LN(hs) row by row: xhat = (hs − μ)·inv, inv = 1/√(σ² + ε), x = xhat ⊙ w + bias.
    The row sums behind μ and σ² are two GEMVs (a scalar loop's sum is one dependent add per element)."""
    n, H = hs.shape
    ones, s = np.ones((H, 1), _F), np.empty((n, 1), _F)
    gemm(False, False, _F(1.0), hs, ones, _F(0.0), s)
    for i in range(n):
        _center_row(hs, i, s[i, 0] / H, xhat, x)  # x := (hs − μ)² for now
    gemm(False, False, _F(1.0), x, ones, _F(0.0), s)
    for i in range(n):
        inv[i] = _F(1.0) / math.sqrt(s[i, 0] / H + EPS)
    for i in range(n):
        _affine_row(xhat, i, inv[i], w, bias, x)


@njit(**JIT)
def _center_row(hs, i, mu, xhat, sq):
    for j in range(hs.shape[1]):
        d = hs[i, j] - mu
        xhat[i, j] = d
        sq[i, j] = d * d


@njit(**JIT)
def _affine_row(xhat, i, r, w, bias, x):
    for j in range(xhat.shape[1]):
        xh = xhat[i, j] * r
        xhat[i, j] = xh
        x[i, j] = xh * w[j] + bias[j]


@njit(**JIT)
def _layer_norm_backward(dx, xhat, inv, w, dhs, dw, dbias):
    """dhs = inv·(dxhat − mean(dxhat) − xhat·mean(dxhat ⊙ xhat)), dxhat = dx ⊙ w;
    dw += Σ_rows dx ⊙ xhat, dbias += Σ_rows dx. The two row means are GEMVs over dhs, which holds dxhat and then
    dxhat ⊙ xhat on the way (rounded as layers.layer_norm_backward rounds them: at H = 2 the exact result is 0, so
    the result is rounding alone)."""
    n, H = dx.shape
    ones, m1, m2 = np.ones((H, 1), _F), np.empty((n, 1), _F), np.empty((n, 1), _F)
    for i in range(n):
        _ln_param_grad_row(dx, xhat, i, w, dhs, dw, dbias)  # dhs := dxhat
    gemm(False, False, _F(1.0), dhs, ones, _F(0.0), m1)
    for i in range(n):
        _ln_product_row(dx, xhat, i, w, dhs)  # dhs := dxhat ⊙ xhat
    gemm(False, False, _F(1.0), dhs, ones, _F(0.0), m2)
    for i in range(n):
        _ln_input_grad_row(dx, xhat, i, w, inv[i], m1[i, 0] / H, m2[i, 0] / H, dhs)


@njit(**JIT)
def _ln_param_grad_row(dx, xhat, i, w, dxhat, dw, dbias):
    for j in range(dx.shape[1]):
        dxhat[i, j] = dx[i, j] * w[j]
        dw[j] += dx[i, j] * xhat[i, j]
        dbias[j] += dx[i, j]


@njit(**JIT)
def _ln_product_row(dx, xhat, i, w, p):
    for j in range(dx.shape[1]):
        p[i, j] = (dx[i, j] * w[j]) * xhat[i, j]


@njit(**JIT)
def _ln_input_grad_row(dx, xhat, i, w, r, m1, m2, dhs):
    for j in range(dx.shape[1]):
        dhs[i, j] = r * (dx[i, j] * w[j] - m1 - xhat[i, j] * m2)


@njit(**JIT)
def _peel_backward(b0, b1, dhs, E, sc, target, mask, dE, dsc):
    """d layer_t = −Σ_{p>t} dh_p per sequence; dE[y_t] += d layer_t ⊙ sc_t, dsc_t += d layer_t ⊙ E[y_t]."""
    H, T = E.shape[1], mask.shape[0]
    acc = np.empty(H, _F)
    i = dhs.shape[0]  # the chunk's packed rows, walked back from the last
    for b in range(b1 - 1, b0 - 1, -1):
        acc[:] = 0
        for t in range(T - 1, -1, -1):
            e = target[t, b]
            for j in range(H):
                dE[e, j] -= acc[j] * sc[t, j]
                dsc[t, j] -= acc[j] * E[e, j]
            if mask[t, b]:
                i -= 1
                for j in range(H):
                    acc[j] += dhs[i, j]


@njit(**JIT)
def probe_chunk(c, bounds, starts, h, E, sc, target, mask, lnw, lnb, w1, c1, w2, c2, inv_n, need_grad,
                hs, xhat, inv, x, r, dr, lt, dlt, y, loss_c, correct,
                dE_c, dsc_c, dlnw_c, dlnb_c, dw1_c, db1_c, dw2_c, db2_c):
    """Forward (and backward if need_grad) of chunk c (classifier W1 = w1, b1 = c1, W2 = w2, b2 = c2): rows
    bounds[c]..bounds[c+1], packed rows starts[c]..starts[c+1] of the flat workspaces (hs, xhat, x, r, dr: n·H;
    inv, y: n; lt, dlt: C·n).
    Writes loss_c[c] (summed CE · inv_n), correct[b] for its rows, and its partial gradients (index c)."""
    b0, b1, i0, i1 = bounds[c], bounds[c + 1], starts[c], starts[c + 1]
    n, H, C = i1 - i0, h.shape[1], E.shape[0]
    hs_c, xhat_c = hs[i0 * H:i1 * H].reshape((n, H)), xhat[i0 * H:i1 * H].reshape((n, H))
    x_c, r_c = x[i0 * H:i1 * H].reshape((n, H)), r[i0 * H:i1 * H].reshape((n, H))
    dr = dr[i0 * H:i1 * H].reshape((n, H))
    lt_c, dlt_c = lt[i0 * C:i1 * C].reshape((C, n)), dlt[i0 * C:i1 * C].reshape((C, n))
    y_c, inv_c = y[i0:i1], inv[i0:i1]
    _peel(b0, b1, h, E, sc, target, mask, hs_c, y_c)
    _layer_norm(hs_c, lnw, lnb, xhat_c, inv_c, x_c)
    linear_relu_forward(x_c, w1, c1, r_c)
    head_forward_chunk(r_c, w2, c2, lt_c)
    _exact_match(b0, b1, mask, lt_c, y_c, correct)
    wts = np.full(n, _F(inv_n))
    loss_c[c] = cross_entropy_columns(lt_c, y_c, wts, dlt_c) * inv_n
    if not need_grad:
        return
    # backward: the head, the ReLU, Linear 1, LayerNorm, the peeling; hs_c and x_c are reused for gradients
    head_backward_chunk(dlt_c, w2, r_c, dr, dw2_c[c], db2_c[c], True)
    linear_relu_backward(dr, r_c, x_c, w1, dw1_c[c], db1_c[c], x_c, True)  # x_c := d LN output (read first)
    dlnw_c[c, :] = 0
    dlnb_c[c, :] = 0
    _layer_norm_backward(x_c, xhat_c, inv_c, lnw, hs_c, dlnw_c[c], dlnb_c[c])  # hs_c := d h
    dE_c[c, :, :] = 0
    dsc_c[c, :, :] = 0
    _peel_backward(b0, b1, hs_c, E, sc, target, mask, dE_c[c], dsc_c[c])


@njit(**JIT)
def _exact_match(b0, b1, mask, lt, y, correct):
    """correct[b] = every valid position's argmax (the first maximum) is its target, for rows b0..b1."""
    best = np.empty(y.shape[0], np.int64)
    argmax_columns(lt, best)
    i = 0
    for b in range(b0, b1):
        ok = True
        for t in range(mask.shape[0]):
            if mask[t, b]:
                ok = ok and best[i] == y[i]
                i += 1
        correct[b] = ok


def loss_and_grads(params, sc, h, target, mask, need_grad: bool = True):
    """The onion probe's loss, exact-match flags and gradients on the numba kernels.

    params: the probe's float32 parameters; sc [T, H] the layer scales; h [B, H] = h_enc; target, mask [T, B].
    Returns (loss, correct [B] bool, grads of E, ln.*, cls1.*, cls2.* and dsc [T, H]) (grads None unless need_grad)."""
    pin_blas()
    T, B = mask.shape
    H, C = h.shape[1], params["E"].shape[0]
    target, mask = checked_targets(target, mask, C)
    p = {k: np.ascontiguousarray(v, dtype=_F) for k, v in params.items()}
    bounds = chunk_bounds(B)
    nc = len(bounds) - 1
    per_row = mask.sum(axis=0)
    starts = np.concatenate([[0], np.cumsum([per_row[bounds[k]:bounds[k + 1]].sum() for k in range(nc)])])
    n = int(starts[-1])
    hs, xhat, x, r, dr = (workspace("onion_probe_" + k, (T * B * H,)) for k in ("hs", "xhat", "x", "r", "dr"))
    lt, dlt = workspace("onion_probe_lt", (T * B * C,)), workspace("onion_probe_dlt", (T * B * C,))
    inv, y = workspace("onion_probe_inv", (T * B,)), workspace("onion_probe_y", (T * B,), np.int64)
    loss_c, correct = np.zeros(nc), np.zeros(B, np.bool_)
    grads = {"E": (C, H), "dsc": (T, H), "ln.weight": (H,), "ln.bias": (H,), "cls1.weight": (H, H),
             "cls1.bias": (H,), "cls2.weight": (C, H), "cls2.bias": (C,)}
    per_chunk = {k: np.zeros((nc,) + s, _F) for k, s in grads.items()}
    run_chunks(probe_chunk, nc, bounds, starts.astype(np.int64), np.ascontiguousarray(h, dtype=_F), p["E"],
               np.ascontiguousarray(sc, dtype=_F), target, mask, p["ln.weight"], p["ln.bias"], p["cls1.weight"],
               p["cls1.bias"], p["cls2.weight"], p["cls2.bias"], 1.0 / max(n, 1), np.bool_(need_grad),
               hs, xhat, inv, x, r, dr, lt, dlt, y, loss_c, correct, *per_chunk.values())
    return float(loss_c.sum()), correct, ({k: v.sum(axis=0) for k, v in per_chunk.items()} if need_grad else None)


drop_stale_cache([math32, blas, gru_numba_kernels, head_numba, dense_numba, sys.modules[__name__]])

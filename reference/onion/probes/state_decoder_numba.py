"""The linear and MLP probes' head (probes/state_decoder.py) as one Numba kernel per batch chunk: the layers, the
cross-entropy at every position, exact match and the backward pass, float32.

    r = h (Linear) or ReLU(W_h h + b_h) (MLP);   logits = W_o r + b_o  read as [Lmax, C] per sequence
The output layer is computed class-major, lt = W_o rᵀ + b_o [Lmax·C, bc] (head_numba's layout), so the logits of
position t are the contiguous block lt[t·C:(t+1)·C] [C, bc] and the softmax loops run over the chunk's sequences.
Each chunk writes its own partial gradients, summed in chunk order: bit-identical for a fixed thread count.
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit

from ...cells import dense_numba, gru_numba_kernels, head_numba
from ...cells.dense_numba import linear_relu_backward, linear_relu_forward
from ...cells.gru_numba_kernels import JIT, copy2
from ...cells.head_numba import (argmax_columns, checked_targets, cross_entropy_columns, head_backward_chunk,
                                 head_forward_chunk)
from ...jit import blas, math32
from ...jit.cache import drop_stale_cache
from ...jit.threads import chunk_bounds, pin_blas, run_chunks, workspace

_F = np.float32


@njit(**JIT)
def probe_chunk(c, bounds, h, target, mask, wh, bh, wo, bo, C, mlp, inv_n, need_grad, r, dr, lt, dlt, loss_c,
                correct, dwh_c, dbh_c, dwo_c, dbo_c):
    """Forward (and backward if need_grad) of chunk c: rows b0 = bounds[c] .. b1 = bounds[c+1] of h [B, H];
    target / mask [T, B] (T ≤ Lmax = wo.shape[0] / C). Workspaces (flat, chunk-major): r, dr B·H; lt, dlt B·Lmax·C.
    Writes loss_c[c] (the chunk's CE sum · inv_n), correct[b0:b1] and the chunk's partial gradients (index c)."""
    b0, b1 = bounds[c], bounds[c + 1]
    bc, H, LC = b1 - b0, h.shape[1], wo.shape[0]
    T = mask.shape[0]
    x = h[b0:b1]
    lt_c, dlt_c = lt[b0 * LC:b1 * LC].reshape((LC, bc)), dlt[b0 * LC:b1 * LC].reshape((LC, bc))
    r_c, dr_c = r[b0 * H:b1 * H].reshape((bc, H)), dr[b0 * H:b1 * H].reshape((bc, H))
    if mlp:
        linear_relu_forward(x, wh, bh, r_c)
    else:
        copy2(x, r_c)
    head_forward_chunk(r_c, wo, bo, lt_c)
    y, w, best = np.empty(bc, np.int64), np.empty(bc, _F), np.empty(bc, np.int64)
    total = 0.0
    correct[b0:b1] = True
    for t in range(T):
        lt_t, dlt_t = lt_c[t * C:(t + 1) * C], dlt_c[t * C:(t + 1) * C]
        for b in range(bc):
            y[b] = target[t, b0 + b]
            w[b] = _F(inv_n) if mask[t, b0 + b] else _F(0.0)
        total += cross_entropy_columns(lt_t, y, w, dlt_t)
        argmax_columns(lt_t, best)
        for b in range(bc):
            if mask[t, b0 + b] and best[b] != y[b]:
                correct[b0 + b] = False
    loss_c[c] = total * inv_n
    if not need_grad:
        return
    for i in range(T * C, LC):  # positions past the batch's longest sequence carry no loss
        dlt_c[i, :] = 0
    head_backward_chunk(dlt_c, wo, r_c, dr_c, dwo_c[c], dbo_c[c], True)
    if mlp:
        linear_relu_backward(dr_c, r_c, x, wh, dwh_c[c], dbh_c[c], dr_c, False)


def loss_and_grads(params, h, target, mask, n_symbols: int, need_grad: bool = True):
    """The linear (params out.*) or MLP (also hidden.*) probe's loss, exact-match flags and gradients.

    h [B, H] = h_enc, target / mask [T, B]. Returns (loss, correct [B] bool, grads or None unless need_grad)."""
    pin_blas()
    T, B = mask.shape
    H, C = h.shape[1], n_symbols
    target, mask = checked_targets(target, mask, C)
    p = {k: np.ascontiguousarray(v, dtype=_F) for k, v in params.items()}
    mlp = "hidden.weight" in p
    wh, bh = (p["hidden.weight"], p["hidden.bias"]) if mlp else (np.zeros((1, 1), _F), np.zeros(1, _F))
    LC = p["out.weight"].shape[0]
    bounds = chunk_bounds(B)
    nc = len(bounds) - 1
    shapes = {"out.weight": (LC, H), "out.bias": (LC,)}
    if mlp:
        shapes.update({"hidden.weight": wh.shape, "hidden.bias": bh.shape})
    per_chunk = {k: np.empty((nc,) + s, _F) for k, s in shapes.items()}
    dwh_c, dbh_c = (per_chunk["hidden.weight"], per_chunk["hidden.bias"]) if mlp else \
        (np.zeros((nc, 1, 1), _F), np.zeros((nc, 1), _F))
    loss_c, correct = np.zeros(nc), np.zeros(B, np.bool_)
    run_chunks(probe_chunk, nc, bounds, np.ascontiguousarray(h, dtype=_F), target, mask, wh, bh, p["out.weight"],
               p["out.bias"], np.int64(C), np.bool_(mlp), 1.0 / max(int(mask.sum()), 1), np.bool_(need_grad),
               workspace("state_probe_r", (B * H,)), workspace("state_probe_dr", (B * H,)),
               workspace("state_probe_lt", (B * LC,)), workspace("state_probe_dlt", (B * LC,)), loss_c, correct,
               dwh_c, dbh_c, per_chunk["out.weight"], per_chunk["out.bias"])
    return float(loss_c.sum()), correct, ({k: v.sum(axis=0) for k, v in per_chunk.items()} if need_grad else None)


drop_stale_cache([math32, blas, gru_numba_kernels, head_numba, dense_numba, sys.modules[__name__]])

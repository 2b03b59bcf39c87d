"""The AL-RNN's fast path as a cell of the repeat model (Numba, float32): cells/alrnn_masked.py's time loop with the
length mask, forward and backward, for one batch chunk, and the chunk drivers cells/seq_numba.py runs one per thread.

    z' = table[x] + Φ*(z) Wᵀ + Ā ⊙ z,   table = E Cᵀ + h [V, H],   Ā = [0, …, 0, A_1, …, A_P]   (held past the mask)
    Φ*(z) = ReLU on the last P units (cells/alrnn.py)
Backward of one step (dz: the gradient reaching z'):
    dz_prev = (dz W) ⊙ φ'(z) + Ā ⊙ dz,  φ' = 1 on linear units, [z > 0] on ReLU units
    dW += dzᵀ Φ*(z),   dA += Σ_b dz[:, H−P:] ⊙ z[:, H−P:],   dTable[x] += dz   (dC = dTableᵀ E, dh = Σ_v dTable)

cells/alrnn_numba.py (the AL-RNN paper's own tasks) runs dense inputs from z_0 = 0 without a mask and takes the
whole dL/dzs at once; its per-step loops do not fit this model's encoder / decoder split, so only its Φ* kernel
(`_phi_into`) is reused here. acts [S, bc, H] keeps each step's Φ*(z_prev), the GEMM's input, for dW.
Unlike alrnn_numba.py no denormals are flushed: the repeat model's ≤ 2·max_len steps do not reach them.
Measured speed: docs/beyond-cells.md ("Speed").
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..jit.blas import gemm
from .alrnn_numba import _phi_into
from .gru_numba_chunks import _consts
from .gru_numba_kernels import JIT, active_rows, add2, chunk_view, copy2, copy_row, zero_row
from .head_numba import exact_match_chunk
from .seq_numba_chunks import grad_rows, head_backward, head_forward, logits_view

PREFIX = "alrnn."
_F = np.float32


def widths(H: int):
    """(state blocks of H, activations cached per step (Φ*(z_prev)), width G of the table and the product)."""
    return 1, H, H


def split(p: dict):
    """(C [H, E], h [H] (the table's bias), W [H, H], A [P]) from the float32 parameters."""
    return p[PREFIX + "C"], p[PREFIX + "h"], p[PREFIX + "W"], p[PREFIX + "A"]


def grads_of(dtable_sum, dw_in, dwhh, dcx) -> dict:
    return {PREFIX + "A": dcx, PREFIX + "W": dwhh, PREFIX + "C": dw_in, PREFIX + "h": dtable_sum}


@njit(**JIT)
def forward_row(table, v, gh, b, a, z, z_out):
    """z_out[b] = table[v] + gh[b] + Ā ⊙ z[b]."""
    H, P = z.shape[1], a.shape[0]
    for j in range(H - P):
        z_out[b, j] = table[v, j] + gh[b, j]
    for k in range(P):
        j = H - P + k
        z_out[b, j] = table[v, j] + gh[b, j] + a[k] * z[b, j]


@njit(**JIT)
def backward_row_in(dz, b, d, dtable, v, da, z, table_grad):
    """d[b] = dz[b] (the step's output gradient); dtable[v] += d[b] and dA += d[b, H−P:] ⊙ z[b, H−P:] if
    table_grad (the weight gradients are wanted)."""
    H, P = dz.shape[1], da.shape[0]
    for j in range(H):
        d[b, j] = dz[b, j]
    if table_grad:
        for j in range(H):
            dtable[v, j] += d[b, j]
        for k in range(P):
            da[k] += d[b, H - P + k] * z[b, H - P + k]


@njit(**JIT)
def backward_row_out(tmp, b, d, a, z, dz):
    """dz[b] = (d W)[b] ⊙ φ'(z[b]) + Ā ⊙ d[b], tmp[b] = (d W)[b]."""
    H, P = dz.shape[1], a.shape[0]
    for j in range(H - P):
        dz[b, j] = tmp[b, j]
    for k in range(P):
        j = H - P + k
        dz[b, j] = (tmp[b, j] if z[b, j] > _F(0.0) else _F(0.0)) + a[k] * d[b, j]


@njit(**JIT)
def forward_steps(table, whh, a, tok, msk, use_mask, b0, zs, acts, s0, gh, keep):
    """Steps s0 .. s0+T-1 for one chunk, in place: zs [≥2, bc, H] (step s reads slot s % len, writes (s+1) % len),
    acts [S or 1, bc, H] ← Φ*(z_prev) (keep False: slot 0 every step), gh [bc, H] scratch."""
    bc, ns, P = gh.shape[0], zs.shape[0], a.shape[0]
    for t in range(tok.shape[0]):
        s = s0 + t
        z, z_out, fz = zs[s % ns], zs[(s + 1) % ns], acts[s if keep else 0]
        n = active_rows(msk, t, b0, bc) if use_mask else bc
        _phi_into(z[:n], P, fz[:n])
        gemm(False, True, _F(1.0), fz[:n], whh, _F(0.0), gh[:n])    # gh = Φ*(z) Wᵀ
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                copy_row(z, z_out, b)
            else:
                forward_row(table, tok[t, b0 + b], gh, b, a, z, z_out)
        for b in range(n, bc):
            copy_row(z, z_out, b)


@njit(**JIT)
def backward_steps(whh, a, tok, msk, use_mask, loss_mask, b0, zs, acts, s0, dhs, dz, d, tmp, param_grads, dtable,
                   da, need_ds0, dwhh):
    """Backpropagation through steps s0+T-1 .. s0 for one chunk: dhs [T, bc, H] from the head (or [0, bc, H]);
    dz [bc, H] in: the last state's gradient, out: state s0's (if need_ds0); d, tmp [bc, H] scratch; dW [H, H],
    dtable [V, H] and dA [P] accumulate if param_grads. Rows without gradient are skipped (held ones: dz passes)."""
    bc, T = dz.shape[0], tok.shape[0]
    n_loss = 0
    for t in range(T - 1, -1, -1):
        s = s0 + t
        z, fz = zs[s], acts[s]
        if dhs.shape[0] > 0:
            add2(dhs[t], dz)
        n, n_loss = grad_rows(msk, t, b0, bc, use_mask, loss_mask, n_loss)
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                zero_row(d, b)
            else:
                backward_row_in(dz, b, d, dtable, tok[t, b0 + b], da, z, param_grads)
        if param_grads and n > 0:
            gemm(True, False, _F(1.0), d[:n], fz[:n], _F(1.0), dwhh)     # dW += dzᵀ Φ*(z)
        if (t > 0 or need_ds0) and n > 0:
            gemm(False, False, _F(1.0), d[:n], whh, _F(0.0), tmp[:n])    # tmp = dz W
            for b in range(n):
                if not (use_mask and not msk[t, b0 + b]):
                    backward_row_out(tmp, b, d, a, z, dz)


@njit(**JIT)
def _chunk_states(states, acts, S, b0, b1, H):
    """Chunk (b0, b1)'s zs [S+1, bc, H] and acts [S, bc, H] in the flat buffers states, acts."""
    return chunk_view(states, S + 1, b0, b1, H), chunk_view(acts, S, b0, b1, H)


@njit(**JIT)
def forward_chunk(c, bounds, table, whh, cx, kind, wo, bo, enc_in, mask, dec_in, lmask, hold_dec, s0, states, acts,
                  gh, logits_c, logits_out, s_enc):
    """Encoder (length mask), decoder and head for chunk c; lstm_numba.forward_chunk's contract (hold_dec included)
    with S = H, cx = A [P], acts S·B·H (kind unused)."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H, Te, Td = whh.shape[1], enc_in.shape[0], dec_in.shape[0]
    zs, ac = _chunk_states(states, acts, Te + Td, b0, b1, H)
    ghc = chunk_view(gh, ONE, b0, b1, H)[0]
    copy2(s0[b0:b1], zs[0])
    forward_steps(table, whh, cx, enc_in, mask, YES, b0, zs, ac, ZERO, ghc, YES)
    copy2(zs[Te], s_enc[b0:b1])
    if Td > 0:
        forward_steps(table, whh, cx, dec_in, lmask, hold_dec, b0, zs, ac, Te, ghc, YES)
        head_forward(zs[Te + 1:], wo, bo, b0, b1, logits_c, logits_out)


@njit(**JIT)
def encode_chunk(c, bounds, table, whh, cx, kind, enc_in, mask, s0, sbuf, abuf, gh, s_enc):
    """The encoder alone for chunk c (sbuf 2·B·H, abuf B·H), nothing kept. Output: s_enc [B, H] rows b0..b1."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H = whh.shape[1]
    zs = chunk_view(sbuf, np.int64(2), b0, b1, H)
    copy2(s0[b0:b1], zs[0])
    forward_steps(table, whh, cx, enc_in, mask, YES, b0, zs, chunk_view(abuf, ONE, b0, b1, H), ZERO,
                  chunk_view(gh, ONE, b0, b1, H)[0], NO)
    copy2(zs[enc_in.shape[0] % 2], s_enc[b0:b1])


@njit(**JIT)
def backward_chunk(c, bounds, whh, cx, kind, wo, enc_in, mask, dec_in, lmask, target, inv_n, use_ce, dlogits_in,
                   param_grads, hold_dec, states, acts, gh, logits_c, dlogits_c, dhs, ds, dgh, ds0,
                   loss_c, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c):
    """Head, decoder and encoder backward for chunk c (lstm_numba.backward_chunk's contract with S = H; dcx_c[c]
    gets dA; gh B·H is the scratch of dz W)."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H, Te, Td = whh.shape[1], enc_in.shape[0], dec_in.shape[0]
    zs, ac = _chunk_states(states, acts, Te + Td, b0, b1, H)
    dhs_c = chunk_view(dhs, Td, b0, b1, H)
    dz = chunk_view(ds, ONE, b0, b1, H)[0]
    d = chunk_view(dgh, ONE, b0, b1, H)[0]
    tmp = chunk_view(gh, ONE, b0, b1, H)[0]
    dtable, dwhh, da = dtable_c[c], dwhh_c[c], dcx_c[c]
    dwhh[:, :] = 0
    da[:] = 0
    head_backward(c, zs[Te + 1:], wo, b0, b1, use_ce, logits_c, target, lmask, inv_n, dlogits_in, dlogits_c, dhs_c,
                  param_grads, loss_c, dwo_c, dbo_c)
    dz[:, :] = 0.0
    backward_steps(whh, cx, dec_in, lmask, hold_dec, use_ce and not hold_dec, b0, zs, ac, Te, dhs_c, dz, d, tmp,
                   param_grads, dtable, da, YES, dwhh)
    if Te > 0:
        backward_steps(whh, cx, enc_in, mask, YES, NO, b0, zs, ac, ZERO, dhs_c[:0], dz, d, tmp, param_grads, dtable,
                       da, NO, dwhh)
    else:
        copy2(dz, ds0[b0:b1])


@njit(**JIT)
def train_chunk(c, bounds, table, whh, cx, kind, wo, bo, enc_in, mask, dec_in, lmask, target, inv_n, s0,
                param_grads, hold_dec, states, acts, gh, logits_c, logits_out, s_enc, dlogits_c, dhs, ds, dgh, ds0,
                loss_c, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c, correct):
    """`forward_chunk`, the exact match into correct [B], then `backward_chunk` from the cross-entropy."""
    forward_chunk(c, bounds, table, whh, cx, kind, wo, bo, enc_in, mask, dec_in, lmask, hold_dec, s0, states, acts, gh,
                  logits_c, logits_out, s_enc)
    b0, b1 = bounds[c], bounds[c + 1]
    exact_match_chunk(logits_view(logits_c, b0, b1, dec_in.shape[0], wo.shape[0]), target, lmask, b0, correct)
    backward_chunk(c, bounds, whh, cx, kind, wo, enc_in, mask, dec_in, lmask, target, inv_n, np.bool_(True),
                   logits_out[:0], param_grads, hold_dec, states, acts, gh, logits_c, dlogits_c, dhs, ds, dgh, ds0,
                   loss_c, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c)

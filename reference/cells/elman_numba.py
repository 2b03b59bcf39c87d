"""The Elman RNN's fast path (Numba, float32), φ ∈ {tanh, relu, identity (the linear RNN)}: cells/elman.py's time
loop, forward and backward, for one batch chunk, and the chunk drivers cells/seq_numba.py runs one per thread.

    a = table[x] + h W_hhᵀ,   table = E W_ihᵀ + b_ih + b_hh [V, H]      h' = φ(a)    (held past the mask)
    da = dh ⊙ φ'(a):  tanh: 1 − h'²,  relu: [h' > 0] (= [a > 0]),  identity: 1
    dh_prev = da W_hh,   dW_hh += daᵀ h,   dTable[x] += da   (db_ih = db_hh = Σ da)

φ' is read off the new state h' itself, so nothing but the states is kept for the backward pass. φ is the runtime
argument `kind` (KINDS), one compiled kernel for the three; the branch sits outside the row loops.
Measured speed: docs/beyond-cells.md ("Speed").
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..jit.blas import gemm
from ..jit.math32 import tanh32
from .gru_numba_chunks import _consts
from .gru_numba_kernels import JIT, active_rows, add2, chunk_view, copy2, copy_row, zero_row
from .head_numba import exact_match_chunk
from .seq_numba_chunks import grad_rows, head_backward, head_forward, logits_view
from .torch_layout import folded, unfolded_grads

PREFIX = "rnn."
IDENTITY, TANH, RELU = 0, 1, 2
KINDS = {"identity": IDENTITY, "tanh": TANH, "relu": RELU}
_F = np.float32


def widths(H: int):
    """(state blocks of H, activations cached per step, gate width G of the table and the recurrent product)."""
    return 1, 0, H


def split(p: dict):
    """(W_ih [H, E], b_ih + b_hh [H], W_hh [H, H], extra parameters []) from the float32 parameters."""
    return (*folded(p, PREFIX), np.zeros(0, _F))


def grads_of(dtable_sum, dw_in, dwhh, dcx) -> dict:
    return unfolded_grads(PREFIX, dtable_sum, dw_in, dwhh)


@njit(**JIT)
def forward_row(table, v, gh, b, h_out, kind):
    """h_out[b] = φ(table[v] + gh[b])."""
    H = h_out.shape[1]
    if kind == TANH:
        for j in range(H):
            h_out[b, j] = tanh32(table[v, j] + gh[b, j])
    elif kind == RELU:
        for j in range(H):
            a = table[v, j] + gh[b, j]
            h_out[b, j] = a if a > _F(0.0) else _F(0.0)
    else:
        for j in range(H):
            h_out[b, j] = table[v, j] + gh[b, j]


@njit(**JIT)
def backward_row(hn, b, dh, d, dtable, v, table_grad, kind):
    """d[b] = da = dh[b] ⊙ φ'(a) from the new state hn[b]; dh[b] = 0 (the step's GEMM adds da W_hh); dtable[v] += da
    if table_grad."""
    H = hn.shape[1]
    if kind == TANH:
        for j in range(H):
            d[b, j] = dh[b, j] * (_F(1.0) - hn[b, j] * hn[b, j])
    elif kind == RELU:
        for j in range(H):
            d[b, j] = dh[b, j] if hn[b, j] > _F(0.0) else _F(0.0)
    else:
        for j in range(H):
            d[b, j] = dh[b, j]
    for j in range(H):
        if table_grad:
            dtable[v, j] += d[b, j]
        dh[b, j] = _F(0.0)


@njit(**JIT)
def forward_steps(table, whh, tok, msk, use_mask, b0, hs, s0, gh, kind):
    """Steps s0 .. s0+T-1 (T = tok.shape[0]) for one chunk, in place: hs [≥2, bc, H] (step s reads slot s % len,
    writes (s+1) % len), gh [bc, H] scratch. With the mask, rows past the last active one only copy their state."""
    bc, ns = gh.shape[0], hs.shape[0]
    for t in range(tok.shape[0]):
        s = s0 + t
        h, h_out = hs[s % ns], hs[(s + 1) % ns]
        n = active_rows(msk, t, b0, bc) if use_mask else bc
        gemm(False, True, _F(1.0), h[:n], whh, _F(0.0), gh[:n])
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                copy_row(h, h_out, b)
            else:
                forward_row(table, tok[t, b0 + b], gh, b, h_out, kind)
        for b in range(n, bc):
            copy_row(h, h_out, b)


@njit(**JIT)
def backward_steps(whh, tok, msk, use_mask, loss_mask, b0, hs, s0, dhs, dh, d, param_grads, dtable, need_ds0, dwhh,
                   kind):
    """Backpropagation through steps s0+T-1 .. s0 for one chunk: dhs [T, bc, H] from the head (or [0, bc, H]);
    dh [bc, H] in: the last state's gradient, out: state s0's (if need_ds0); d [bc, H] scratch; dW_hh [H, H] and
    dtable [V, H] accumulate if param_grads. Rows without gradient are skipped (as lstm_numba.backward_steps)."""
    bc, T = dh.shape[0], tok.shape[0]
    n_loss = 0
    for t in range(T - 1, -1, -1):
        s = s0 + t
        if dhs.shape[0] > 0:
            add2(dhs[t], dh)
        n, n_loss = grad_rows(msk, t, b0, bc, use_mask, loss_mask, n_loss)
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                zero_row(d, b)   # held: dh passes through
            else:
                backward_row(hs[s + 1], b, dh, d, dtable, tok[t, b0 + b], param_grads, kind)
        if param_grads and n > 0:
            gemm(True, False, _F(1.0), d[:n], hs[s][:n], _F(1.0), dwhh)   # dW_hh += daᵀ h
        if (t > 0 or need_ds0) and n > 0:
            gemm(False, False, _F(1.0), d[:n], whh, _F(1.0), dh[:n])      # dh += da W_hh


@njit(**JIT)
def forward_chunk(c, bounds, table, whh, cx, kind, wo, bo, enc_in, mask, dec_in, lmask, hold_dec, s0, states, acts,
                  gh, logits_c, logits_out, s_enc):
    """Encoder (length mask), decoder and head for chunk c (rows bounds[c]..bounds[c+1]); the arguments as
    lstm_numba.forward_chunk's (hold_dec included), with S = H: table [V, H], whh [H, H], states (S+1)·B·H,
    gh B·H (acts, cx unused)."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H, Te, Td = whh.shape[1], enc_in.shape[0], dec_in.shape[0]
    hs = chunk_view(states, Te + Td + 1, b0, b1, H)
    ghc = chunk_view(gh, ONE, b0, b1, H)[0]
    copy2(s0[b0:b1], hs[0])
    forward_steps(table, whh, enc_in, mask, YES, b0, hs, ZERO, ghc, kind)
    copy2(hs[Te], s_enc[b0:b1])
    if Td > 0:
        forward_steps(table, whh, dec_in, lmask, hold_dec, b0, hs, Te, ghc, kind)
        head_forward(hs[Te + 1:], wo, bo, b0, b1, logits_c, logits_out)


@njit(**JIT)
def encode_chunk(c, bounds, table, whh, cx, kind, enc_in, mask, s0, sbuf, abuf, gh, s_enc):
    """The encoder alone for chunk c, two state slots (sbuf 2·B·H), nothing kept. Output: s_enc [B, H] rows b0..b1."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H = whh.shape[1]
    hs = chunk_view(sbuf, np.int64(2), b0, b1, H)
    copy2(s0[b0:b1], hs[0])
    forward_steps(table, whh, enc_in, mask, YES, b0, hs, ZERO, chunk_view(gh, ONE, b0, b1, H)[0], kind)
    copy2(hs[enc_in.shape[0] % 2], s_enc[b0:b1])


@njit(**JIT)
def backward_chunk(c, bounds, whh, cx, kind, wo, enc_in, mask, dec_in, lmask, target, inv_n, use_ce, dlogits_in,
                   param_grads, hold_dec, states, acts, gh, logits_c, dlogits_c, dhs, ds, dgh, ds0,
                   loss_c, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c):
    """Head, decoder and encoder backward for chunk c after `forward_chunk` (lstm_numba.backward_chunk's contract
    with S = H: ds B·H, dgh B·H)."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H, Te, Td = whh.shape[1], enc_in.shape[0], dec_in.shape[0]
    hs = chunk_view(states, Te + Td + 1, b0, b1, H)
    dhs_c = chunk_view(dhs, Td, b0, b1, H)
    dh = chunk_view(ds, ONE, b0, b1, H)[0]
    d = chunk_view(dgh, ONE, b0, b1, H)[0]
    dtable, dwhh = dtable_c[c], dwhh_c[c]
    dwhh[:, :] = 0
    head_backward(c, hs[Te + 1:], wo, b0, b1, use_ce, logits_c, target, lmask, inv_n, dlogits_in, dlogits_c, dhs_c,
                  param_grads, loss_c, dwo_c, dbo_c)
    dh[:, :] = 0.0
    backward_steps(whh, dec_in, lmask, hold_dec, use_ce and not hold_dec, b0, hs, Te, dhs_c, dh, d, param_grads,
                   dtable, YES, dwhh, kind)
    if Te > 0:
        backward_steps(whh, enc_in, mask, YES, NO, b0, hs, ZERO, dhs_c[:0], dh, d, param_grads, dtable, NO, dwhh,
                       kind)
    else:
        copy2(dh, ds0[b0:b1])


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

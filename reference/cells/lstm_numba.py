"""The LSTM's fast path (Numba, float32): cells/lstm.py's time loop, forward and backward, for one batch chunk, and
the chunk drivers that cells/seq_numba.py runs one per thread (its contracts are gru_numba.py's).

    a  = table[x] + h W_hhᵀ,    table = E W_ihᵀ + b_ih + b_hh [V, 4H]   (both biases folded in: they only ever add)
    i, f, g, o = σ(a_i), σ(a_f), tanh(a_g), σ(a_o)      c' = f ⊙ c + i ⊙ g      h' = o ⊙ tanh(c')
    (mask m: s_out = s' where m, else s: the state [h; c] is held past a sequence's end)

Backward of one step (dh, dc: the gradient reaching h', c'):
    dc ← dc + dh ⊙ o (1 − tanh²c')    da = [dc g i(1−i), dc c f(1−f), dc i (1−g²), dh tanh(c') o(1−o)]
    dh_prev = da W_hh,  dc_prev = dc ⊙ f,   dW_hh += daᵀ h,   dTable[x] += da   (db_ih = db_hh = Σ da)

Buffers: h and c are kept apart (each contiguous, so the step's GEMM reads h directly): a chunk's state block is
[2(S+1), bc, H], rows 0..S the h's, rows S+1..2S+1 the c's; acts [S, bc, 5H] = i | f | g | o | tanh(c').
The state seen from outside (h0, the encoder's state, dh0) is s = [h; c] [B, 2H], as in cells/lstm.py.
Measured speed: docs/beyond-cells.md ("Speed").
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..jit.blas import gemm, gemm_nt, gemm_rows, transpose_plan
from ..jit.math32 import sigmoid32, tanh32
from .gru_numba_chunks import _consts
from .gru_numba_kernels import JIT, active_rows, add2, chunk_view, copy_row, zero_row
from .head_numba import exact_match_chunk
from .seq_numba_chunks import grad_rows, head_backward, head_forward, logits_view
from .torch_layout import folded, unfolded_grads

PREFIX = "lstm."
_F = np.float32


def widths(H: int):
    """(state blocks of H, activations cached per step, gate width G of the table and the recurrent product)."""
    return 2, 5 * H, 4 * H


def split(p: dict):
    """(W_in [G, E], the bias folded into the table [G], W_hh [G, H], extra parameters []) from the cell's own
    parameters (float32 dict)."""
    return (*folded(p, PREFIX), np.zeros(0, _F))


def grads_of(dtable_sum, dw_in, dwhh, dcx) -> dict:
    """The cell's gradients from dTable summed over rows [G], dW_in = dTableᵀ E, dW_hh (dcx unused)."""
    return unfolded_grads(PREFIX, dtable_sum, dw_in, dwhh)


@njit(**JIT)
def forward_row(table, v, gh, b, h, c, h_out, c_out, g):
    """Gates and new state of row b (token v): reads gh[b], table[v], c[b]; writes g[b], h_out[b], c_out[b]."""
    H = h.shape[1]
    for j in range(H):
        i = sigmoid32(table[v, j] + gh[b, j])
        f = sigmoid32(table[v, H + j] + gh[b, H + j])
        gg = tanh32(table[v, 2 * H + j] + gh[b, 2 * H + j])
        o = sigmoid32(table[v, 3 * H + j] + gh[b, 3 * H + j])
        cn = f * c[b, j] + i * gg
        tc = tanh32(cn)
        g[b, j] = i
        g[b, H + j] = f
        g[b, 2 * H + j] = gg
        g[b, 3 * H + j] = o
        g[b, 4 * H + j] = tc
        c_out[b, j] = cn
        h_out[b, j] = o * tc


@njit(**JIT)
def backward_row(g, c, b, dh, dc, d, dtable, v, table_grad):
    """Backward of row b: reads g[b], c[b] (the previous cell state), dh[b], dc[b]; writes d[b] (= da),
    dc[b] (= dc ⊙ f) and dh[b] = 0 (the step's GEMM then adds da W_hh); adds da into dtable[v] if table_grad."""
    H = c.shape[1]
    one = _F(1.0)
    for j in range(H):
        i, f, gg, o, tc = g[b, j], g[b, H + j], g[b, 2 * H + j], g[b, 3 * H + j], g[b, 4 * H + j]
        dhn = dh[b, j]
        dcn = dc[b, j] + dhn * o * (one - tc * tc)
        dai = dcn * gg * i * (one - i)
        daf = dcn * c[b, j] * f * (one - f)
        dag = dcn * i * (one - gg * gg)
        dao = dhn * tc * o * (one - o)
        d[b, j] = dai
        d[b, H + j] = daf
        d[b, 2 * H + j] = dag
        d[b, 3 * H + j] = dao
        if table_grad:
            dtable[v, j] += dai
            dtable[v, H + j] += daf
            dtable[v, 2 * H + j] += dag
            dtable[v, 3 * H + j] += dao
        dc[b, j] = dcn * f
        dh[b, j] = _F(0.0)


@njit(**JIT)
def forward_steps(table, whh, tok, msk, use_mask, b0, hs, cs, acts, s0, gh, keep):
    """Steps s0 .. s0+T-1 (T = tok.shape[0]) for one chunk, in place: hs, cs [≥2, bc, H] (step s reads slot
    s % len, writes (s+1) % len), acts [S or 1, bc, 5H] (keep False: every step writes slot 0), gh [bc, 4H].
    With the mask (rows sorted by decreasing length), rows past the last active one only copy their state."""
    bc, ns = gh.shape[0], hs.shape[0]
    split, whh_op = transpose_plan(bc, whh)
    for t in range(tok.shape[0]):
        s = s0 + t
        h, c, h_out, c_out = hs[s % ns], cs[s % ns], hs[(s + 1) % ns], cs[(s + 1) % ns]
        g = acts[s if keep else 0]
        n = active_rows(msk, t, b0, bc) if use_mask else bc
        gemm_nt(h[:n], whh, split, whh_op, gh[:n])    # gh = h W_hhᵀ
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                copy_row(h, h_out, b)
                copy_row(c, c_out, b)
            else:
                forward_row(table, tok[t, b0 + b], gh, b, h, c, h_out, c_out, g)
        for b in range(n, bc):
            copy_row(h, h_out, b)
            copy_row(c, c_out, b)


@njit(**JIT)
def backward_steps(whh, tok, msk, use_mask, loss_mask, b0, hs, cs, acts, s0, dhs, dh, dc, d, param_grads, dtable,
                   need_ds0, dwhh):
    """Backpropagation through steps s0+T-1 .. s0 for one chunk. dhs [T, bc, H] the gradient reaching each output
    h from the head (or [0, bc, H]); dh, dc [bc, H]: in, the last state's gradient; out, the gradient of state s0
    (h part only if need_ds0). d [bc, 4H] scratch. param_grads: dW_hh [4H, H] and dtable [V, 4H] accumulate.
    Rows without gradient are skipped: with use_mask the held ones, with loss_mask (msk the decoder's loss mask)
    those with no loss at any step ≥ t (their gradient is exactly zero)."""
    bc, T = dh.shape[0], tok.shape[0]
    n_loss = 0
    for t in range(T - 1, -1, -1):
        s = s0 + t
        h, c, g = hs[s], cs[s], acts[s]
        if dhs.shape[0] > 0:
            add2(dhs[t], dh)
        n, n_loss = grad_rows(msk, t, b0, bc, use_mask, loss_mask, n_loss)
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                zero_row(d, b)   # held: dh and dc pass through
            else:
                backward_row(g, c, b, dh, dc, d, dtable, tok[t, b0 + b], param_grads)
        if param_grads and n > 0:
            gemm(True, False, _F(1.0), d[:n], h[:n], _F(1.0), dwhh)   # dW_hh += daᵀ h
        if (t > 0 or need_ds0) and n > 0:
            gemm_rows(_F(1.0), d[:n], whh, _F(1.0), dh[:n])  # dh += da W_hh (held rows: d = 0)


@njit(**JIT)
def _state_in(src, h, c, b0):
    """h, c [bc, H] = the halves of src[b0 + b] = [h; c] [B, 2H]."""
    H = h.shape[1]
    for b in range(h.shape[0]):
        for j in range(H):
            h[b, j] = src[b0 + b, j]
            c[b, j] = src[b0 + b, H + j]


@njit(**JIT)
def _state_out(h, c, dst, b0):
    """dst[b0 + b] = [h; c]."""
    H = h.shape[1]
    for b in range(h.shape[0]):
        for j in range(H):
            dst[b0 + b, j] = h[b, j]
            dst[b0 + b, H + j] = c[b, j]


@njit(**JIT)
def _chunk_states(states, acts, S, b0, b1, H):
    """Chunk (b0, b1)'s hs, cs [S+1, bc, H] and acts [S, bc, 5H] in the flat buffers states, acts."""
    st = chunk_view(states, 2 * (S + 1), b0, b1, H)
    return st[:S + 1], st[S + 1:], chunk_view(acts, S, b0, b1, 5 * H)


@njit(**JIT)
def forward_chunk(c, bounds, table, whh, cx, kind, wo, bo, enc_in, mask, dec_in, lmask, hold_dec, s0, states, acts,
                  gh, logits_c, logits_out, s_enc):
    """Encoder (with the length mask), decoder and head for chunk c (rows bounds[c]..bounds[c+1]).
    table [V, 4H], whh [4H, H], wo [C, H], bo [C]; enc_in / mask [Te, B], dec_in [Td, B]; s0 [B, 2H].
    hold_dec (Te = 0 only; lmask [Td, B] the loss mask, a prefix per row): the decoder holds each row's state past
    its length, so finished rows cost nothing; their logits are then the held state's (they carry no loss).
    Workspaces (flat, chunk-major): states 2(S+1)·B·H, acts S·B·5H, gh B·4H, logits_c Td·B·C.
    Outputs: logits_out [Td, B, C] (or [Td, 0, C]: not written), s_enc [B, 2H] (= s0 if Te = 0). cx, kind unused."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H, Te, Td = whh.shape[1], enc_in.shape[0], dec_in.shape[0]
    hs, cs, ac = _chunk_states(states, acts, Te + Td, b0, b1, H)
    ghc = chunk_view(gh, ONE, b0, b1, 4 * H)[0]
    _state_in(s0, hs[0], cs[0], b0)
    forward_steps(table, whh, enc_in, mask, YES, b0, hs, cs, ac, ZERO, ghc, YES)
    _state_out(hs[Te], cs[Te], s_enc, b0)
    if Td > 0:
        forward_steps(table, whh, dec_in, lmask, hold_dec, b0, hs, cs, ac, Te, ghc, YES)
        head_forward(hs[Te + 1:], wo, bo, b0, b1, logits_c, logits_out)


@njit(**JIT)
def encode_chunk(c, bounds, table, whh, cx, kind, enc_in, mask, s0, sbuf, abuf, gh, s_enc):
    """The encoder alone for chunk c, keeping nothing for a backward pass (two state slots, one acts slot).
    Workspaces: sbuf 4·B·H, abuf B·5H, gh B·4H. Output: s_enc [B, 2H] rows b0..b1."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H = whh.shape[1]
    st = chunk_view(sbuf, np.int64(4), b0, b1, H)
    hs, cs = st[:2], st[2:]
    _state_in(s0, hs[0], cs[0], b0)
    forward_steps(table, whh, enc_in, mask, YES, b0, hs, cs, chunk_view(abuf, ONE, b0, b1, 5 * H), ZERO,
                  chunk_view(gh, ONE, b0, b1, 4 * H)[0], NO)
    k = enc_in.shape[0] % 2
    _state_out(hs[k], cs[k], s_enc, b0)


@njit(**JIT)
def backward_chunk(c, bounds, whh, cx, kind, wo, enc_in, mask, dec_in, lmask, target, inv_n, use_ce, dlogits_in,
                   param_grads, hold_dec, states, acts, gh, logits_c, dlogits_c, dhs, ds, dgh, ds0,
                   loss_c, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c):
    """Head, decoder and (if Te > 0) encoder backward for chunk c after `forward_chunk`. The decoder's output
    gradient is the cross-entropy's (use_ce: target, lmask [Td, B] the loss mask, inv_n = 1/#valid) or given
    (dlogits_in [Td, B, C]); hold_dec as the forward pass ran. Workspaces: dlogits_c Td·B·C, dhs Td·B·H,
    ds B·2H, dgh B·4H.
    Outputs: ds0 [B, 2H] rows b0..b1 (only if Te = 0); slot c of loss_c [nc], dtable_c [nc, V, 4H] (accumulated:
    pass zeros), dwhh_c [nc, 4H, H], dwo_c [nc, C, H], dbo_c [nc, C] (dcx_c unused). gh unused."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H, Te, Td = whh.shape[1], enc_in.shape[0], dec_in.shape[0]
    hs, cs, ac = _chunk_states(states, acts, Te + Td, b0, b1, H)
    dhs_c = chunk_view(dhs, Td, b0, b1, H)
    dsc = chunk_view(ds, np.int64(2), b0, b1, H)
    dh, dc = dsc[0], dsc[1]
    d = chunk_view(dgh, ONE, b0, b1, 4 * H)[0]
    dtable, dwhh = dtable_c[c], dwhh_c[c]
    dwhh[:, :] = 0
    head_backward(c, hs[Te + 1:], wo, b0, b1, use_ce, logits_c, target, lmask, inv_n, dlogits_in, dlogits_c, dhs_c,
                  param_grads, loss_c, dwo_c, dbo_c)
    dh[:, :] = 0.0
    dc[:, :] = 0.0
    backward_steps(whh, dec_in, lmask, hold_dec, use_ce and not hold_dec, b0, hs, cs, ac, Te, dhs_c, dh, dc, d,
                   param_grads, dtable, YES, dwhh)
    if Te > 0:
        backward_steps(whh, enc_in, mask, YES, NO, b0, hs, cs, ac, ZERO, dhs_c[:0], dh, dc, d, param_grads, dtable,
                       NO, dwhh)
    else:
        _state_out(dh, dc, ds0, b0)


@njit(**JIT)
def train_chunk(c, bounds, table, whh, cx, kind, wo, bo, enc_in, mask, dec_in, lmask, target, inv_n, s0,
                param_grads, hold_dec, states, acts, gh, logits_c, logits_out, s_enc, dlogits_c, dhs, ds, dgh, ds0,
                loss_c, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c, correct):
    """`forward_chunk`, the exact match of its logits against target over lmask into correct [B] (rows b0..b1),
    then `backward_chunk` from the cross-entropy: a training step, or stage 2's decode of a state s0 (Te = 0)."""
    forward_chunk(c, bounds, table, whh, cx, kind, wo, bo, enc_in, mask, dec_in, lmask, hold_dec, s0, states, acts, gh,
                  logits_c, logits_out, s_enc)
    b0, b1 = bounds[c], bounds[c + 1]
    exact_match_chunk(logits_view(logits_c, b0, b1, dec_in.shape[0], wo.shape[0]), target, lmask, b0, correct)
    backward_chunk(c, bounds, whh, cx, kind, wo, enc_in, mask, dec_in, lmask, target, inv_n, np.bool_(True),
                   logits_out[:0], param_grads, hold_dec, states, acts, gh, logits_c, dlogits_c, dhs, ds, dgh, ds0,
                   loss_c, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c)

"""The whole model's forward and backward over one batch chunk: serial, GIL-free Numba functions.

A chunk is the batch rows b0..b1; gru_numba.py runs one chunk per thread. Nothing is shared between chunks except
read-only parameters and inputs: each chunk writes its own rows of the outputs and its own partial weight
gradients, which the caller sums in chunk order, so results are bit-identical for a fixed chunk count.

Workspaces are flat chunk-major buffers (see `chunk_view`): chunk (b0, b1) owns the contiguous block
[steps·b0·width, steps·b1·width) of a buffer, viewed as [steps, b1-b0, width].

Steps: the encoder runs steps 0..Te-1 over enc_in (with the length mask), the decoder steps Te..Te+Td-1 over
dec_in (no mask); Te = 0 (decode only) or Td = 0 (encode only) is allowed. S = Te + Td.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .gru_numba_kernels import JIT, chunk_view, copy2, gru_backward_chunk, gru_forward_chunk
from .head_numba import (cross_entropy_chunk, exact_match_chunk, head_backward_chunk, head_forward_chunk,
                         logits_from_batch, logits_to_batch)


# Constant arguments of jitted calls are typed as literals, and each literal value compiles its own copy of the
# callee; these runtime-typed constants keep one compiled version of each kernel.
@njit(**JIT)
def _consts():
    return np.bool_(True), np.bool_(False), np.int64(0), np.int64(1)


@njit(**JIT)
def forward_chunk(c, bounds, table, whh, bhh, wo, bo, enc_in, mask, dec_in, h0, hold_dec,
                  hall, gates, gh, logits_c, logits_out, h_enc):
    """Encoder, decoder and head for chunk c: batch rows b0 = bounds[c] .. b1 = bounds[c+1].

    table [V, 3H], whh [3H, H], bhh [3H], wo [C, H], bo [C]; enc_in / mask [Te, B]; dec_in [Td, B];
    h0 [B, H] the initial state. hold_dec (Te = 0 only: mask [Td, B] is then the decoder's loss mask): the decoder
    holds the state of rows past their length, as the encoder does, so finished rows cost nothing; their logits are
    then the held state's, not the reference's (they carry no loss).
    Workspaces (flat): hall (S+1)·B·H, gates S·B·4H, gh B·3H, logits_c Td·B·C (class-major per chunk).
    Outputs (rows b0..b1): logits_out [Td, B, C] (or [Td, 0, C]: not wanted, not written), h_enc [B, H] (the state
    after the encoder; = h0 if Te = 0)."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H, C = whh.shape[1], wo.shape[0]
    Te, Td = enc_in.shape[0], dec_in.shape[0]
    S, bc = Te + Td, b1 - b0
    hall_c = chunk_view(hall, S + 1, b0, b1, H)
    gates_c = chunk_view(gates, S, b0, b1, 4 * H)
    gh_c = chunk_view(gh, ONE, b0, b1, 3 * H)[0]
    copy2(h0[b0:b1], hall_c[0])
    gru_forward_chunk(table, whh, bhh, enc_in, mask, YES, b0, hall_c, gates_c, ZERO, gh_c, YES)
    copy2(hall_c[Te], h_enc[b0:b1])
    if Td > 0:
        gru_forward_chunk(table, whh, bhh, dec_in, mask, hold_dec, b0, hall_c, gates_c, Te, gh_c, YES)
        lt = chunk_view(logits_c, ONE, b0, b1, Td * C)[0].reshape((C, Td * bc))
        head_forward_chunk(hall_c[Te + 1:].reshape((Td * bc, H)), wo, bo, lt)
        if logits_out.shape[1] > 0:
            logits_to_batch(lt, b0, logits_out)


@njit(**JIT)
def encode_chunk(c, bounds, table, whh, bhh, enc_in, mask, h0, hbuf, gbuf, gh, h_enc):
    """The encoder alone for chunk c (rows bounds[c]..bounds[c+1]), keeping nothing for a backward pass: the state
    ping-pongs between two buffers and every step's gates go to the same slot (stage 2 encodes without gradient).
    enc_in / mask [Te, B], h0 [B, H]; workspaces (flat): hbuf 2·B·H, gbuf B·4H (one step's gates), gh B·3H.
    Output: h_enc [B, H] rows b0..b1."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    H = whh.shape[1]
    hall_c = chunk_view(hbuf, np.int64(2), b0, b1, H)
    copy2(h0[b0:b1], hall_c[0])
    gru_forward_chunk(table, whh, bhh, enc_in, mask, YES, b0, hall_c, chunk_view(gbuf, ONE, b0, b1, 4 * H), ZERO,
                      chunk_view(gh, ONE, b0, b1, 3 * H)[0], NO)
    copy2(hall_c[enc_in.shape[0] % 2], h_enc[b0:b1])


@njit(**JIT)
def backward_chunk(c, bounds, whh, wo, enc_in, mask, dec_in, target, inv_n, use_ce, dlogits_in, param_grads,
                   hold_dec, hall, gates, logits_c, dlogits_c, dhs, dh, dgh, dh0,
                   loss_c, dtable_c, dbhh_c, dwhh_c, dwo_c, dbo_c):
    """Head, decoder and (if Te > 0) encoder backward for chunk c (rows bounds[c]..bounds[c+1]), after
    `forward_chunk`.

    whh [3H, H], wo [C, H]. The decoder's output gradient is either the cross-entropy's (use_ce: from logits_c,
    target [Td, B] and the mask, averaged with inv_n = 1/#valid) or given (dlogits_in [Td, B, C]).
    param_grads: also the weight gradients (else only dh0). hold_dec: as the forward pass was run (forward_chunk).
    Workspaces (flat): dlogits_c Td·B·C (class-major per chunk), dhs Td·B·H, dh B·H, dgh B·3H (one step's d gh).
    Outputs: dh0 [B, H] rows b0..b1 (the initial state's gradient; only if Te = 0); in slot c: the chunk's summed
    loss loss_c [nc] (if use_ce), dtable_c [nc, V, 3H] (accumulated: pass zeros), dbhh_c [nc, 3H],
    dwhh_c [nc, 3H, H], dwo_c [nc, C, H], dbo_c [nc, C]."""
    YES, NO, ZERO, ONE = _consts()
    b0, b1 = bounds[c], bounds[c + 1]
    dtable, dbhh, dwhh, dwo, dbo = dtable_c[c], dbhh_c[c], dwhh_c[c], dwo_c[c], dbo_c[c]
    H, C = whh.shape[1], wo.shape[0]
    Te, Td = enc_in.shape[0], dec_in.shape[0]
    S, bc = Te + Td, b1 - b0
    hall_c = chunk_view(hall, S + 1, b0, b1, H)
    gates_c = chunk_view(gates, S, b0, b1, 4 * H)
    dlt = chunk_view(dlogits_c, ONE, b0, b1, Td * C)[0].reshape((C, Td * bc))
    dhs_c = chunk_view(dhs, Td, b0, b1, H)
    dh_c = chunk_view(dh, ONE, b0, b1, H)[0]
    dgh_c = chunk_view(dgh, ONE, b0, b1, 3 * H)
    dwhh[:, :] = 0
    dbhh[:] = 0
    ones = np.ones((bc, 1), dwhh.dtype)
    dbhh2 = dbhh.reshape((3 * H, 1))
    if use_ce:
        lt = chunk_view(logits_c, ONE, b0, b1, Td * C)[0].reshape((C, Td * bc))
        loss_c[c] = cross_entropy_chunk(lt, target, mask, b0, inv_n, dlt)
    else:
        logits_from_batch(dlogits_in, b0, dlt)
    head_backward_chunk(dlt, wo, hall_c[Te + 1:].reshape((Td * bc, H)),
                        dhs_c.reshape((Td * bc, H)), dwo, dbo, param_grads)
    dh_c[:] = 0.0
    gru_backward_chunk(whh, dec_in, mask, hold_dec, b0, hall_c, gates_c, Te, dhs_c, dh_c, dgh_c, param_grads,
                       dtable, YES, use_ce and not hold_dec, dwhh, dbhh2, ones)
    if Te > 0:
        gru_backward_chunk(whh, enc_in, mask, YES, b0, hall_c, gates_c, ZERO, dhs_c[:0], dh_c, dgh_c, param_grads,
                           dtable, NO, NO, dwhh, dbhh2, ones)
    else:
        copy2(dh_c, dh0[b0:b1])


@njit(**JIT)
def train_chunk(c, bounds, table, whh, bhh, wo, bo, enc_in, mask, dec_in, target, inv_n, h0, param_grads, hold_dec,
                hall, gates, gh, logits_c, logits_out, h_enc, dlogits_c, dhs, dh, dgh, dh0,
                loss_c, dtable_c, dbhh_c, dwhh_c, dwo_c, dbo_c, correct):
    """Forward and backward of chunk c from the cross-entropy: `forward_chunk`, then `backward_chunk` (one task per
    thread and step, so the threads meet once a step). A training step (param_grads), or stage 2's decode of an
    edited state h0 (Te = 0, mask [Td, B]: only the loss, the logits and dh0; hold_dec as in forward_chunk).
    Also correct [B] (rows b0..b1): the exact match of the logits against target over the mask."""
    forward_chunk(c, bounds, table, whh, bhh, wo, bo, enc_in, mask, dec_in, h0, hold_dec,
                  hall, gates, gh, logits_c, logits_out, h_enc)
    b0, b1, Td, C = bounds[c], bounds[c + 1], dec_in.shape[0], wo.shape[0]
    lt = chunk_view(logits_c, np.int64(1), b0, b1, Td * C)[0].reshape((C, Td * (b1 - b0)))
    exact_match_chunk(lt, target, mask, b0, correct)
    backward_chunk(c, bounds, whh, wo, enc_in, mask, dec_in, target, inv_n, np.bool_(True), logits_out[:0],
                   param_grads, hold_dec, hall, gates, logits_c, dlogits_c, dhs, dh, dgh, dh0,
                   loss_c, dtable_c, dbhh_c, dwhh_c, dwo_c, dbo_c)

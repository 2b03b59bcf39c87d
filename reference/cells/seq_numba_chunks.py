"""What the chunk drivers of lstm_numba.py, elman_numba.py and alrnn_numba_seq.py share (Numba, float32): the head
over a chunk's decoder states, forward and backward, and which rows of a step get a gradient.

A chunk is the batch rows b0..b1 (cells/seq_numba.py runs one per thread); logits_c and dlogits_c are flat
chunk-major buffers of Td·B·C holding each chunk's logits class-major, [C, Td·bc] (cells/head_numba.py).
The per-cell drivers (forward_chunk, backward_chunk, train_chunk) stay in each cell's file: they call their own
cell's step loops, and Numba calls another @njit function cheaply only when it is named, not passed in.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .gru_numba_kernels import JIT, active_rows, chunk_view
from .head_numba import (cross_entropy_chunk, head_backward_chunk, head_forward_chunk, logits_from_batch,
                         logits_to_batch)


@njit(**JIT)
def logits_view(logits_c, b0, b1, Td, C):
    """Chunk (b0, b1)'s logits [C, Td·bc] (class-major) inside the flat buffer logits_c."""
    return chunk_view(logits_c, np.int64(1), b0, b1, Td * C)[0].reshape((C, Td * (b1 - b0)))


@njit(**JIT)
def head_forward(hdec, wo, bo, b0, b1, logits_c, logits_out):
    """logits = h W_oᵀ + b_o of the chunk's decoder states hdec [Td, bc, H], into logits_c and, unless logits_out
    is [Td, 0, C] (not wanted), into logits_out [Td, B, C] rows b0..b1."""
    Td, bc, H = hdec.shape
    lt = logits_view(logits_c, b0, b1, Td, wo.shape[0])
    head_forward_chunk(hdec.reshape((Td * bc, H)), wo, bo, lt)
    if logits_out.shape[1] > 0:
        logits_to_batch(lt, b0, logits_out)


@njit(**JIT)
def head_backward(c, hdec, wo, b0, b1, use_ce, logits_c, target, lmask, inv_n, dlogits_in, dlogits_c, dhs_c,
                  param_grads, loss_c, dwo_c, dbo_c):
    """dhs_c [Td, bc, H] = the gradient reaching the decoder states hdec [Td, bc, H] from the head. The logits'
    gradient is the cross-entropy's (use_ce: target, lmask [Td, B] the loss mask, inv_n = 1/#valid; the chunk's
    summed loss into loss_c[c]) or given (dlogits_in [Td, B, C]); dW_o, db_o into dwo_c[c], dbo_c[c] if
    param_grads. dlogits_c: Td·B·C workspace."""
    Td, bc, H = hdec.shape
    C = wo.shape[0]
    dlt = logits_view(dlogits_c, b0, b1, Td, C)
    if use_ce:
        loss_c[c] = cross_entropy_chunk(logits_view(logits_c, b0, b1, Td, C), target, lmask, b0, inv_n, dlt)
    else:
        logits_from_batch(dlogits_in, b0, dlt)
    head_backward_chunk(dlt, wo, hdec.reshape((Td * bc, H)), dhs_c.reshape((Td * bc, H)), dwo_c[c], dbo_c[c],
                        param_grads)


@njit(**JIT)
def grad_rows(msk, t, b0, bc, use_mask, loss_mask, n_loss):
    """(n, n_loss): the backward pass at step t computes the chunk's rows 0..n-1 only (rows sorted by decreasing
    length; as gru_numba_kernels.gru_backward_chunk): with use_mask the rows up to the last active one (the rest
    are held: their gradient passes through); with loss_mask (msk the decoder's loss mask) those active at some
    step ≥ t (n_loss: the running count), the others' gradient being exactly zero; else all bc."""
    if use_mask:
        return active_rows(msk, t, b0, bc), n_loss
    if loss_mask:
        n_loss = max(n_loss, active_rows(msk, t, b0, bc))
        return n_loss, n_loss
    return bc, n_loss

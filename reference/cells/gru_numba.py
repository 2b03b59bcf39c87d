"""The Numba fast path of the whole model (seq2seq.py's contracts, float32): training step, prediction, and the
frozen-model pieces stage 2 needs (encode; decode forward / backward with or without weight gradients).

    loss_and_grads(params, batch) -> (loss, grads, logits [T, B, C])      one training step's forward + backward
    predict(params, batch)        -> logits [T, B, C]
    encode(params, enc_in, mask)  -> h_enc [B, H]
    decode_forward(params, h0, dec_in)          -> (logits [T, B, C], cache)
    decode_backward(dlogits, cache, need_param_grads=True) -> (dh0 [B, H], grads)   grads = {} if not needed
    decode_loss(params, h0, dec_in, target, mask, param_grads=False) -> (loss, dh0, logits, grads, correct)  fused
    cross_entropy(logits, target, mask)         -> (loss, dlogits)   seq2seq.cross_entropy on the head's kernel
`params` is the dict of torch-named arrays, or its `Weights.of(params)` (to convert them once, not every call).

What is fused (gru_numba_kernels.py):
  * the one-hot input projection is a table, table = E W_ihᵀ + b_ih [V, 3H], computed once per call; its
    gradient dTable [V, 3H] is a scatter-add, then dE = dTable W_ih and dW_ih = dTableᵀ E;
  * one GEMM per time step forward (h W_hhᵀ) and one backward (d gh W_hh); the gate non-linearities, the mask and
    the gate derivatives are vectorised loops (jit/math32.py);
  * dW_hh and db_hh are accumulated step by step (GEMMs on the step's rows while they are in cache); the head and
    the loss run per chunk.
Threads (jit/threads.py): one batch chunk per thread, each running its whole time loop in one GIL-free call;
BLAS pinned to one thread. Partial gradients are summed in chunk order, so for a fixed thread count the results
are bit-identical from run to run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import gru_numba_chunks, gru_numba_kernels, gru_numba_rows, head_numba
from ..jit import blas, math32
from .gru_numba_chunks import backward_chunk, forward_chunk, train_chunk
from .gru_numba_rows import ids_in_range, sorted_order
from .head_numba import cross_entropy_chunk
from ..jit.cache import drop_stale_cache
from ..jit.threads import (chunk_bounds, get_threads, owned, pin_blas, recycle_when_dead, run_chunks, set_threads,
                            workspace)

__all__ = ["loss_and_grads", "predict", "encode", "decode_forward", "decode_backward", "decode_loss",
           "cross_entropy", "Weights", "set_threads", "get_threads", "pin_blas"]
F32 = np.float32
drop_stale_cache([math32, blas, gru_numba_kernels, head_numba, gru_numba_chunks, gru_numba_rows])


@dataclass(frozen=True)
class Weights:
    """The model's parameters as contiguous float32 arrays, plus the input table."""
    emb: np.ndarray     # E [V, E] (E = H in onionref's own runs; an imported model's may differ)
    wih: np.ndarray     # W_ih [3H, E]
    table: np.ndarray   # E W_ihᵀ + b_ih [V, 3H]
    whh: np.ndarray     # W_hh [3H, H]
    bhh: np.ndarray     # [3H]
    wo: np.ndarray      # W_o [C, H]
    bo: np.ndarray      # [C]

    @classmethod
    def of(cls, params) -> "Weights":
        if isinstance(params, cls):
            return params
        p = {k: np.ascontiguousarray(v, dtype=F32) for k, v in params.items()}
        emb, wih = p["embedding.weight"], p["gru.weight_ih_l0"]
        return cls(emb=emb, wih=wih, table=np.ascontiguousarray(emb @ wih.T + p["gru.bias_ih_l0"]),
                   whh=p["gru.weight_hh_l0"], bhh=p["gru.bias_hh_l0"], wo=p["head.weight"], bo=p["head.bias"])


@dataclass(eq=False)   # not frozen: a frozen dataclass sets each of its 13 fields through object.__setattr__
class Forward:
    """What the forward pass leaves for the backward pass (flat chunk-major buffers, see gru_numba_chunks.py)."""
    w: Weights
    enc_in: np.ndarray    # [Te, B] (Te = 0: decode only)
    mask: np.ndarray      # [Te, B] bool
    dec_in: np.ndarray    # [Td, B]
    rows: np.ndarray | None  # the batch's rows in the kernels' order (None: as given), see `_sorted_rows`
    back: np.ndarray | None  # its inverse permutation
    bounds: np.ndarray    # [nc+1] chunk row bounds
    hall: np.ndarray      # (S+1)·B·H states
    gates: np.ndarray     # S·B·4H  r | z | n | hn
    logits_c: np.ndarray  # Td·B·C  logits, chunk-major
    logits: np.ndarray    # [Td, B, C]
    h_enc: np.ndarray     # [B, H]


def _tokens(a, n: int, what: str) -> np.ndarray:
    """a as contiguous int64 ids, checked to lie in 0..n-1 (the kernels index tables without bounds checks)."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    if not ids_in_range(a, n):
        raise ValueError(f"{what} ids must be in 0..{n - 1}, got {a.min()}..{a.max()}")
    return a


def _check_shape(a, shape: tuple, what: str) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{what} has shape {tuple(a.shape)}, expected {tuple(shape)}")


def _sorted_rows(mask, batch: int):
    """(rows, back, bounds): an order of the batch's rows in which every chunk holds its rows by decreasing length (the
    number of True in mask [T, B]), its inverse permutation, and the chunks' row bounds; (None, None, chunk_bounds)
    when all lengths are equal.

    The kernels then skip a chunk's finished rows with one shorter GEMM per step (gru_numba_kernels.active_rows).
    Rows are dealt to the chunks round-robin in length order, so every thread gets as much work."""
    bounds = chunk_bounds(batch)
    if mask.shape[0] == 0:
        return None, None, bounds
    rows, back, sorted_bounds = sorted_order(np.ascontiguousarray(mask, dtype=np.bool_), len(bounds) - 1)
    return (None, None, bounds) if len(rows) == 0 else (rows, back, sorted_bounds)


def _in_order(a, rows, axis: int = 0):
    """a with its batch axis in the kernels' row order."""
    return a if rows is None else np.ascontiguousarray(np.take(a, rows, axis=axis))


def _in_batch_order(a, back, axis: int = 0, own: bool = False):
    """The inverse of `_in_order` (a fresh array); back = the inverse permutation of rows. own: a belongs to this
    call alone (not a workspace), so it is returned as is when there is no permutation."""
    if back is None:
        return a if own else a.copy()
    return np.take(a, back, axis=axis)


def _setup(w: Weights, enc_in, mask, dec_in, keep: bool) -> Forward:
    """The Forward record with its buffers: owned (recycled) arrays if keep (the caller may hold it), else this
    thread's workspaces. Token and mask arrays are taken in the kernels' row order (`_sorted_rows`)."""
    pin_blas()
    V = w.table.shape[0]
    enc_in, dec_in = _tokens(enc_in, V, "encoder input"), _tokens(dec_in, V, "decoder input")
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    B, H, C = (enc_in if enc_in.shape[0] else dec_in).shape[1], w.whh.shape[1], w.wo.shape[0]
    # the mask is the encoder's; a decode alone (Te = 0) may pass the decoder's instead, for its loss
    _check_shape(mask, dec_in.shape if enc_in.shape[0] == 0 and mask.shape[0] else enc_in.shape, "mask")
    _check_shape(dec_in, (dec_in.shape[0], B), "decoder input")
    S, Td = enc_in.shape[0] + dec_in.shape[0], dec_in.shape[0]
    rows, back, bounds = _sorted_rows(mask, B)
    enc_in, mask, dec_in = (_in_order(a, rows, 1) for a in (enc_in, mask, dec_in))
    buf = (lambda name, shape: owned(shape)) if keep else workspace
    f = Forward(w=w, enc_in=enc_in, mask=mask, dec_in=dec_in, rows=rows,
                back=back, bounds=bounds,
                hall=buf("hall", ((S + 1) * B * H,)), gates=buf("gates", (S * B * 4 * H,)),
                logits_c=buf("logits_c", (Td * B * C,)), logits=np.empty((Td, B, C), F32) if keep else
                workspace("logits", (Td, B, C)), h_enc=np.empty((B, H), F32) if keep else workspace("h_enc", (B, H)))
    if keep:  # the internal buffers go back to the pool with the record; logits and h_enc may be held elsewhere
        recycle_when_dead(f, (f.hall, f.gates, f.logits_c))
    return f


def forward(w: Weights, enc_in, mask, dec_in, h0, keep: bool = False) -> Forward:
    """Encoder over enc_in [Te, B] (length mask [Te, B]) from h0 [B, H], then decoder over dec_in [Td, B] and head.

    keep: the result owns its arrays (it may be kept across calls); else they are this thread's workspaces, valid
    until its next call."""
    f = _setup(w, enc_in, mask, dec_in, keep)
    B, H = f.h_enc.shape
    _check_shape(h0, (B, H), "h0")
    run_chunks(forward_chunk, len(f.bounds) - 1, f.bounds, w.table, w.whh, w.bhh, w.wo, w.bo, f.enc_in, f.mask,
               f.dec_in, _in_order(np.ascontiguousarray(h0, F32), f.rows), np.bool_(False), f.hall, f.gates,
               workspace("gh", (B * 3 * H,)), f.logits_c, f.logits, f.h_enc)
    return f


def _grad_buffers(f: Forward, param_grads: bool):
    """Backward workspaces and per-chunk outputs, in backward_chunk's argument order."""
    (Td, B, C), H, V, nc = f.logits.shape, f.w.whh.shape[1], f.w.table.shape[0], len(f.bounds) - 1
    scratch = (workspace("dlogits_c", (Td * B * C,)), workspace("dhs", (Td * B * H,)), workspace("dh", (B * H,)),
               workspace("dgh", (B * 3 * H,)), np.zeros((B, H), F32))
    per_chunk = (np.zeros(nc), workspace("dtable_c", (nc, V, 3 * H), zero=True), workspace("dbhh_c", (nc, 3 * H)),
                 workspace("dwhh_c", (nc, 3 * H, H)), workspace("dwo_c", (nc, C, H)), workspace("dbo_c", (nc, C)))
    return scratch, per_chunk


def _param_grads(w: Weights, per_chunk) -> dict:
    """Sum the chunks' partial gradients in chunk order; dE and dW_ih from the input table's gradient."""
    _, dtable_c, dbhh_c, dwhh_c, dwo_c, dbo_c = per_chunk
    dtable = dtable_c.sum(axis=0)
    return {"embedding.weight": dtable @ w.wih, "gru.weight_ih_l0": dtable.T @ w.emb,
            "gru.weight_hh_l0": dwhh_c.sum(axis=0), "gru.bias_ih_l0": dtable.sum(axis=0),
            "gru.bias_hh_l0": dbhh_c.sum(axis=0), "head.weight": dwo_c.sum(axis=0), "head.bias": dbo_c.sum(axis=0)}


def _target(target, f: Forward) -> np.ndarray:
    target = _tokens(target, f.logits.shape[2], "target")
    _check_shape(target, f.dec_in.shape, "target")
    _check_shape(f.mask, f.dec_in.shape, "mask")  # the loss is masked like the encoder
    return _in_order(target, f.rows, 1)


def loss_and_grads(params: dict, batch):
    """Forward and backward of the whole model on one batch. Returns (loss, grads, logits [T, B, C]).
    A batch whose loss mask is not the encoder's (batch.out_mask, tasks/lookup.py) takes `_own_mask_step`."""
    if getattr(batch, "out_mask", None) is not None:
        return _own_mask_step(params, batch)
    w = Weights.of(params)
    f = _setup(w, batch.enc_in, batch.mask, batch.dec_in, keep=False)
    B, H = f.h_enc.shape
    inv_n = 1.0 / max(np.count_nonzero(f.mask), 1)
    scratch, per_chunk = _grad_buffers(f, True)
    run_chunks(train_chunk, len(f.bounds) - 1, f.bounds, w.table, w.whh, w.bhh, w.wo, w.bo,
               f.enc_in, f.mask, f.dec_in, _target(batch.target, f), inv_n, np.zeros((B, H), F32), np.bool_(True),
               np.bool_(False),
               f.hall, f.gates, workspace("gh", (B * 3 * H,)), f.logits_c, f.logits, f.h_enc,
               *scratch, *per_chunk, workspace("correct", (B,), np.bool_))
    return float(per_chunk[0].sum() * inv_n), _param_grads(w, per_chunk), _in_batch_order(f.logits, f.back, 1)


def _own_mask_step(params: dict, batch):
    """The training step of a decoder with its own loss mask (out_mask [Td, B], e.g. lookup's one step): the fused
    forward with weights kept, the cross-entropy on the head's kernel, then backward_chunk from the given dlogits
    through the decoder and the encoder (decode_backward on the whole forward). The kernels' rows are sorted by
    length: logits, targets and the mask are taken in that order; the weight gradients are sums over rows."""
    w = Weights.of(params)
    B, H = batch.enc_in.shape[1], w.whh.shape[1]
    f = forward(w, batch.enc_in, batch.mask, batch.dec_in, np.zeros((B, H), F32), keep=True)
    target = _in_order(_tokens(batch.target, w.wo.shape[0], "target"), f.rows, 1)
    out_mask = _in_order(np.ascontiguousarray(batch.out_mask, dtype=np.bool_), f.rows, 1)
    loss, dlogits = cross_entropy(f.logits, target, out_mask)
    _, grads = decode_backward(dlogits, f)
    return loss, grads, _in_batch_order(f.logits, f.back, 1)


def predict(params, batch) -> np.ndarray:
    """Teacher-forced logits [T, B, C] for a batch."""
    w = Weights.of(params)
    B, H = batch.enc_in.shape[1], w.whh.shape[1]
    f = forward(w, batch.enc_in, batch.mask, batch.dec_in, np.zeros((B, H), F32))
    return _in_batch_order(f.logits, f.back, 1)


def encode(params, enc_in, mask) -> np.ndarray:
    """enc_in [T, B] token ids, mask [T, B] bool. Returns h_enc [B, H], each sequence's state at its length.
    Nothing is kept for a backward pass (encode_chunk: two state buffers, one step's gates)."""
    w = Weights.of(params)
    pin_blas()
    enc_in = _tokens(enc_in, w.table.shape[0], "encoder input")
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    _check_shape(mask, enc_in.shape, "mask")
    B, H = enc_in.shape[1], w.whh.shape[1]
    rows, back, bounds = _sorted_rows(mask, B)
    h_enc = workspace("h_enc", (B, H))
    run_chunks(gru_numba_chunks.encode_chunk, len(bounds) - 1, bounds, w.table, w.whh, w.bhh,
               _in_order(enc_in, rows, 1), _in_order(mask, rows, 1), np.zeros((B, H), F32),
               workspace("hbuf", (2 * B * H,)), workspace("gbuf", (B * 4 * H,)), workspace("gh", (B * 3 * H,)), h_enc)
    return _in_batch_order(h_enc, back)


def decode_forward(params, h0, dec_in):
    """h0 [B, H] the state to decode, dec_in [T, B] token ids. Returns (logits [T, B, C], cache)."""
    B = dec_in.shape[1]
    f = forward(Weights.of(params), np.zeros((0, B), np.int64), np.zeros((0, B), np.bool_), dec_in, h0, keep=True)
    return f.logits, f


def decode_loss(params, h0, dec_in, target, mask, param_grads: bool = False, with_logits: bool = True):
    """Teacher-forced decode of h0 [B, H] over dec_in [T, B], the token cross-entropy against target over mask
    [T, B], and its backward pass, fused: one call per chunk, no logits gradient leaving the kernel (stage 2: the loss
    of an edited state and d loss / d h0; a GRU probe: also the weight gradients, param_grads=True).
    The mask must say t < length (a prefix per sequence): the decoder then holds each finished row's state and skips
    it, so logits at masked positions (which carry no loss) are not the reference's.
    Returns (loss, dh0 [B, H], logits [T, B, C] (None unless with_logits), grads of embedding, cell and head ({}
    unless param_grads), correct [B]: seq2seq.exact_match of the logits, taken in the kernel)."""
    w = Weights.of(params)
    B = dec_in.shape[1]
    f = _setup(w, np.zeros((0, B), np.int64), mask, dec_in, keep=False)
    _check_shape(h0, f.h_enc.shape, "h0")
    inv_n = 1.0 / max(np.count_nonzero(f.mask), 1)
    scratch, per_chunk = _grad_buffers(f, param_grads)
    correct = np.empty(B, np.bool_)
    run_chunks(train_chunk, len(f.bounds) - 1, f.bounds, w.table, w.whh, w.bhh, w.wo, w.bo,
               f.enc_in, f.mask, f.dec_in, _target(target, f), inv_n,
               _in_order(np.ascontiguousarray(h0, F32), f.rows),
               np.bool_(param_grads), np.bool_(True), f.hall, f.gates, workspace("gh", (B * w.whh.shape[0],)),
               f.logits_c,
               f.logits if with_logits else f.logits[:, :0], f.h_enc, *scratch, *per_chunk, correct)
    grads = _param_grads(w, per_chunk) if param_grads else {}
    return (float(per_chunk[0].sum() * inv_n), _in_batch_order(scratch[-1], f.back, own=True),
            _in_batch_order(f.logits, f.back, 1) if with_logits else None, grads,
            _in_batch_order(correct, f.back, own=True))


def cross_entropy(logits, target, mask):
    """seq2seq.cross_entropy (mean token CE over mask [T, B]) on the class-major kernel of the head: logits
    [T, B, C] → (loss, dlogits [T, B, C] float32). For the probes, whose logits do not come from the model's head."""
    T, B, C = logits.shape
    target = _tokens(target, C, "target")
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    _check_shape(target, (T, B), "target")
    _check_shape(mask, (T, B), "mask")
    lt = np.ascontiguousarray(logits.reshape(T * B, C).T, dtype=F32)   # [C, T·B], position t·B + b
    dlt = np.empty_like(lt)
    inv_n = 1.0 / max(int(mask.sum()), 1)
    loss = cross_entropy_chunk(lt, target, mask, 0, inv_n, dlt)
    return float(loss * inv_n), np.ascontiguousarray(dlt.T).reshape(T, B, C)


def decode_backward(dlogits, cache: Forward, need_param_grads: bool = True):
    """dlogits [T, B, C] → (dh0 [B, H], grads of embedding, cell and head). need_param_grads=False returns {}
    for the grads and skips all weight-gradient work (stage 2 trains only parameters outside the frozen model)."""
    f = cache
    (Td, B, C) = f.logits.shape
    _check_shape(dlogits, (Td, B, C), "dlogits")
    scratch, per_chunk = _grad_buffers(f, need_param_grads)
    run_chunks(backward_chunk, len(f.bounds) - 1, f.bounds, f.w.whh, f.w.wo, f.enc_in, f.mask, f.dec_in,
               np.zeros((0, B), np.int64), 1.0, np.bool_(False), np.ascontiguousarray(dlogits, dtype=F32),
               np.bool_(need_param_grads), np.bool_(False), f.hall, f.gates, f.logits_c, *scratch, *per_chunk)
    dh0 = scratch[-1]
    return dh0, (_param_grads(f.w, per_chunk) if need_param_grads else {})

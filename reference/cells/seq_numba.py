"""The Numba fast path of the repeat model for the cells other than the GRU (LSTM, Elman tanh / relu, linear,
AL-RNN): seq2seq.py's contracts in float32, as cells/gru_numba.py gives them for the GRU.

    fast_cell(cell)                         -> (kernel module, kind) of a cells/choice.py cell, or None (the GRU)
    loss_and_grads(params, batch, cell)     -> (loss, grads, logits [T, B, C])     one training step
    predict(params, batch, cell)            -> logits [T, B, C]
    encode(params, enc_in, mask, cell)      -> s_enc [B, S]
    decode_forward(params, s0, dec_in, cell)                -> (logits [T, B, C], cache)
    decode_backward(dlogits, cache, need_param_grads=True)  -> (ds0 [B, S], grads)
    decode_loss(params, s0, dec_in, target, mask, cell, param_grads=False, with_logits=True)
                                            -> (loss, ds0, logits, grads, correct)   fused, as gru_numba's
`params` is the dict of torch-named arrays or its `Weights.of(params, cell)`. S = cell.state_size(H).

Each cell's kernels live in their own file, next to its NumPy reference: lstm_numba.py (cells/lstm.py),
elman_numba.py (cells/elman.py: φ = tanh, relu or identity, the linear RNN), alrnn_numba_seq.py
(cells/alrnn_masked.py). They share this wrapper, the head and row helpers of seq_numba_chunks.py, and one
design, simpler than the GRU's:
  * the input projection is a table, table = E W_inᵀ + b [V, G] (G = 4H, H, H), computed once per call; its
    gradient dTable is a scatter-add, then dE = dTable W_in, dW_in = dTableᵀ E, db = Σ_v dTable;
  * one GEMM per time step forward (the state W_hhᵀ) and one backward, the element-wise work in row loops that
    LLVM vectorises (jit/math32.py's tanh and sigmoid), dW_hh accumulated step by step;
  * the batch's rows sorted by length within each chunk (gru_numba_rows.py), so finished rows cost nothing;
  * one batch chunk per thread, each running its whole time loop in one GIL-free call (jit/threads.py), BLAS
    pinned to one thread; partial gradients summed in chunk order, so for a fixed thread count the results are
    bit-identical from run to run (not across thread counts: the sums are grouped differently).

Measured (`onionref bench --cells all`; docs/beyond-cells.md, "Speed"): ms per training step, batch 256, lengths
2–9, 1 thread, NumPy reference → this path, on a 2-core machine under load (ratios, not absolute times, carry over):
    H 48:   LSTM 26.0 → 4.87 (5.3×)   Elman tanh 6.08 → 1.53 (4.0×)   relu 5.63 → 1.44 (3.9×)
            linear 5.13 → 1.41 (3.6×)  AL-RNN P 4 6.45 → 2.05 (3.1×)    [GRU, gru_numba: 22.1 → 4.11 (5.4×)]
    H 128:  LSTM 100 → 22.1 (4.5×)    Elman tanh 21.4 → 5.85 (3.7×)   relu 20.0 → 5.92 (3.4×)
            linear 19.5 → 6.21 (3.1×)  AL-RNN P 4 19.3 → 6.90 (2.8×)    [GRU: 77.9 → 17.4 (4.5×)]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import (alrnn_numba, alrnn_numba_seq, elman_numba, gru_numba_chunks, gru_numba_kernels, head_numba, lstm,
               lstm_numba, seq_numba_chunks)
from .gru_numba import _check_shape, _in_batch_order, _in_order, _sorted_rows, _tokens
from ..jit import blas, denormals, math32
from ..jit.cache import drop_stale_cache
from ..jit.threads import owned, pin_blas, recycle_when_dead, run_chunks, workspace

__all__ = ["fast_cell", "loss_and_grads", "predict", "encode", "decode_forward", "decode_backward", "decode_loss",
           "Weights"]
F32 = np.float32
for _k in (lstm_numba, elman_numba, alrnn_numba_seq):   # each kernel file with every file its kernels call
    drop_stale_cache([math32, blas, denormals, gru_numba_kernels, gru_numba_chunks, head_numba, seq_numba_chunks,
                      alrnn_numba, _k])


def fast_cell(cell):
    """(kernel module, kind) for a cell of cells/choice.py (kind: Elman's φ code, else 0); None for a cell without
    a fast path here (the GRU: cells/gru_numba.py)."""
    if cell is lstm:
        return lstm_numba, 0
    name = type(cell).__name__
    if name == "Elman":
        return elman_numba, elman_numba.KINDS[cell.nonlinearity]
    if name == "ALRNN":
        return alrnn_numba_seq, 0
    return None


@dataclass(frozen=True)
class Weights:
    """The model's parameters as contiguous float32 arrays for a cell's kernels, plus the input table."""
    k: object           # the kernel module (lstm_numba, elman_numba, alrnn_numba_seq)
    kind: np.int64      # Elman's φ (elman_numba.KINDS); 0 for the others
    emb: np.ndarray     # E [V, E]
    win: np.ndarray     # the input weights W_in [G, E] (W_ih, or the AL-RNN's C)
    table: np.ndarray   # E W_inᵀ + bias [V, G]
    whh: np.ndarray     # the recurrent weights [G, H] (W_hh, or the AL-RNN's W)
    cx: np.ndarray      # the AL-RNN's A [P]; [0] for the others
    wo: np.ndarray      # W_o [C, H]
    bo: np.ndarray      # [C]

    @classmethod
    def of(cls, params, cell) -> "Weights":
        if isinstance(params, cls):
            return params
        k, kind = fast_cell(cell)
        p = {n: np.ascontiguousarray(v, dtype=F32) for n, v in params.items()}
        win, bias, whh, cx = k.split(p)
        emb = p["embedding.weight"]
        return cls(k=k, kind=np.int64(kind), emb=emb, win=win, table=np.ascontiguousarray(emb @ win.T + bias),
                   whh=whh, cx=np.ascontiguousarray(cx), wo=p["head.weight"], bo=p["head.bias"])

    @property
    def H(self) -> int:
        return self.whh.shape[1]


@dataclass(eq=False)
class Forward:
    """What the forward pass leaves for the backward pass (flat chunk-major buffers)."""
    w: Weights
    enc_in: np.ndarray    # [Te, B] (Te = 0: decode only), all [·, B] arrays in the kernels' row order
    mask: np.ndarray      # [Te, B] the encoder's length mask
    dec_in: np.ndarray    # [Td, B]
    lmask: np.ndarray     # [Td, B] the loss mask ([0, B] when there is no loss)
    rows: np.ndarray | None
    back: np.ndarray | None
    bounds: np.ndarray
    states: np.ndarray    # blocks·(S+1)·B·H
    acts: np.ndarray      # S·B·A
    logits_c: np.ndarray  # Td·B·C, class-major per chunk
    logits: np.ndarray    # [Td, B, C]
    s_enc: np.ndarray     # [B, S]


def _setup(w: Weights, enc_in, mask, dec_in, lmask, keep: bool) -> Forward:
    """The Forward record and its buffers (owned arrays if keep, else this thread's workspaces); rows are sorted by
    the encoder's mask (a decode alone, Te = 0: by the loss mask)."""
    pin_blas()
    V, H, C = w.table.shape[0], w.H, w.wo.shape[0]
    enc_in, dec_in = _tokens(enc_in, V, "encoder input"), _tokens(dec_in, V, "decoder input")
    mask, lmask = (np.ascontiguousarray(m, dtype=np.bool_) for m in (mask, lmask))
    B = (enc_in if enc_in.shape[0] else dec_in).shape[1]
    _check_shape(mask, enc_in.shape, "mask")
    _check_shape(dec_in, (dec_in.shape[0], B), "decoder input")
    if lmask.shape[0]:
        _check_shape(lmask, dec_in.shape, "loss mask")
    S, Td = enc_in.shape[0] + dec_in.shape[0], dec_in.shape[0]
    blocks, A, _ = w.k.widths(H)
    rows, back, bounds = _sorted_rows(mask if mask.shape[0] else lmask, B)
    enc_in, mask, dec_in, lmask = (_in_order(a, rows, 1) for a in (enc_in, mask, dec_in, lmask))
    buf = (lambda name, shape: owned(shape)) if keep else workspace
    f = Forward(w=w, enc_in=enc_in, mask=mask, dec_in=dec_in, lmask=lmask, rows=rows, back=back, bounds=bounds,
                states=buf("sq_states", (blocks * (S + 1) * B * H,)), acts=buf("sq_acts", (S * B * A,)),
                logits_c=buf("sq_logits_c", (Td * B * C,)),
                logits=np.empty((Td, B, C), F32) if keep else workspace("sq_logits", (Td, B, C)),
                s_enc=np.empty((B, blocks * H), F32) if keep else workspace("sq_s_enc", (B, blocks * H)))
    if keep:
        recycle_when_dead(f, (f.states, f.acts, f.logits_c))
    return f


def _gh(f: Forward) -> np.ndarray:
    return workspace("sq_gh", (f.s_enc.shape[0] * f.w.k.widths(f.w.H)[2],))


def _run_forward(f: Forward, s0) -> None:
    w = f.w
    _check_shape(s0, f.s_enc.shape, "initial state")
    run_chunks(w.k.forward_chunk, len(f.bounds) - 1, f.bounds, w.table, w.whh, w.cx, w.kind, w.wo, w.bo, f.enc_in,
               f.mask, f.dec_in, f.lmask, np.bool_(False), _in_order(np.ascontiguousarray(s0, F32), f.rows), f.states,
               f.acts, _gh(f), f.logits_c, f.logits, f.s_enc)


def _grad_buffers(f: Forward):
    """Backward workspaces and per-chunk outputs, in backward_chunk's argument order."""
    (Td, B, C), H, V, nc = f.logits.shape, f.w.H, f.w.table.shape[0], len(f.bounds) - 1
    blocks, _, G = f.w.k.widths(H)
    scratch = (workspace("sq_dlogits_c", (Td * B * C,)), workspace("sq_dhs", (Td * B * H,)),
               workspace("sq_ds", (blocks * B * H,)), workspace("sq_dgh", (B * G,)), np.zeros((B, blocks * H), F32))
    per_chunk = (np.zeros(nc), workspace("sq_dtable_c", (nc, V, G), zero=True), workspace("sq_dwhh_c", (nc, G, H)),
                 workspace("sq_dcx_c", (nc, f.w.cx.shape[0])), workspace("sq_dwo_c", (nc, C, H)),
                 workspace("sq_dbo_c", (nc, C)))
    return scratch, per_chunk


def _param_grads(w: Weights, per_chunk) -> dict:
    """Sum the chunks' partial gradients in chunk order; dE, dW_in and the bias from the input table's gradient."""
    _, dtable_c, dwhh_c, dcx_c, dwo_c, dbo_c = per_chunk
    dtable = dtable_c.sum(axis=0)
    return {"embedding.weight": dtable @ w.win,
            **w.k.grads_of(dtable.sum(axis=0), dtable.T @ w.emb, dwhh_c.sum(axis=0), dcx_c.sum(axis=0)),
            "head.weight": dwo_c.sum(axis=0), "head.bias": dbo_c.sum(axis=0)}


def _train(w: Weights, enc_in, mask, dec_in, target, lmask, s0, param_grads: bool, with_logits: bool = True,
           hold_dec: bool = False):
    """Forward, exact match and backward from the cross-entropy over lmask, one call per chunk. Returns (loss,
    grads or {}, logits [T, B, C] in batch order or None, correct [B], ds0 [B, S] (Te = 0: the state's gradient)).
    hold_dec (a decode alone): the decoder holds finished rows (lstm_numba.forward_chunk)."""
    f = _setup(w, enc_in, mask, dec_in, lmask, keep=False)
    B = f.s_enc.shape[0]
    target = _in_order(_tokens(target, w.wo.shape[0], "target"), f.rows, 1)
    _check_shape(target, f.dec_in.shape, "target")
    inv_n = 1.0 / max(np.count_nonzero(f.lmask), 1)
    scratch, per_chunk = _grad_buffers(f)
    correct = np.empty(B, np.bool_)
    run_chunks(w.k.train_chunk, len(f.bounds) - 1, f.bounds, w.table, w.whh, w.cx, w.kind, w.wo, w.bo,
               f.enc_in, f.mask, f.dec_in, f.lmask, target, inv_n,
               _in_order(np.ascontiguousarray(s0, F32), f.rows), np.bool_(param_grads), np.bool_(hold_dec), f.states,
               f.acts, _gh(f),
               f.logits_c, f.logits if with_logits else f.logits[:, :0], f.s_enc, *scratch, *per_chunk, correct)
    return (float(per_chunk[0].sum() * inv_n), _param_grads(w, per_chunk) if param_grads else {},
            _in_batch_order(f.logits, f.back, 1) if with_logits else None, _in_batch_order(correct, f.back, own=True),
            _in_batch_order(scratch[-1], f.back, own=True))


def loss_and_grads(params, batch, cell, with_logits: bool = True):
    """Forward and backward of the whole model on one batch (loss over batch.loss_mask, as seq2seq's).
    Returns (loss, grads, logits [T, B, C]). with_logits=False (the training loop, which does not read them): logits
    None, and the decoder holds each row past its length (the loss mask must be a prefix per row, as every task's
    is), skipping finished rows as the encoder does; the loss and gradients are the same sums without the rows'
    exact zeros (equal within float32 rounding, not bit for bit)."""
    w = Weights.of(params, cell)
    B = batch.enc_in.shape[1]
    s0 = np.zeros((B, w.k.widths(w.H)[0] * w.H), F32)
    loss, grads, logits, _, _ = _train(w, batch.enc_in, batch.mask, batch.dec_in, batch.target, batch.loss_mask, s0,
                                       True, with_logits, hold_dec=not with_logits)
    return loss, grads, logits


def predict(params, batch, cell) -> np.ndarray:
    """Teacher-forced logits [T, B, C] for a batch."""
    w = Weights.of(params, cell)
    B = batch.enc_in.shape[1]
    f = _setup(w, batch.enc_in, batch.mask, batch.dec_in, np.zeros((0, B), np.bool_), keep=False)
    _run_forward(f, np.zeros(f.s_enc.shape, F32))
    return _in_batch_order(f.logits, f.back, 1)


def encode(params, enc_in, mask, cell) -> np.ndarray:
    """enc_in [T, B] token ids, mask [T, B] bool → s_enc [B, S], each sequence's state at its length. Nothing is
    kept for a backward pass (two state slots, one step's activations)."""
    w = Weights.of(params, cell)
    pin_blas()
    enc_in = _tokens(enc_in, w.table.shape[0], "encoder input")
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    _check_shape(mask, enc_in.shape, "mask")
    B, H = enc_in.shape[1], w.H
    blocks, A, G = w.k.widths(H)
    rows, back, bounds = _sorted_rows(mask, B)
    s_enc = workspace("sq_s_enc", (B, blocks * H))
    run_chunks(w.k.encode_chunk, len(bounds) - 1, bounds, w.table, w.whh, w.cx, w.kind, _in_order(enc_in, rows, 1),
               _in_order(mask, rows, 1), np.zeros((B, blocks * H), F32), workspace("sq_sbuf", (2 * blocks * B * H,)),
               workspace("sq_abuf", (B * A,)), workspace("sq_gh", (B * G,)), s_enc)
    return _in_batch_order(s_enc, back)


def decode_forward(params, s0, dec_in, cell):
    """s0 [B, S] the state to decode, dec_in [T, B] token ids. Returns (logits [T, B, C], cache)."""
    w = Weights.of(params, cell)
    B = dec_in.shape[1]
    f = _setup(w, np.zeros((0, B), np.int64), np.zeros((0, B), np.bool_), dec_in, np.zeros((0, B), np.bool_),
               keep=True)
    _run_forward(f, s0)
    return _in_batch_order(f.logits, f.back, 1, own=True), f


def decode_backward(dlogits, cache: Forward, need_param_grads: bool = True):
    """dlogits [T, B, C] → (ds0 [B, S], grads of embedding, cell and head; {} unless need_param_grads)."""
    f, w = cache, cache.w
    Td, B, C = f.logits.shape
    _check_shape(dlogits, (Td, B, C), "dlogits")
    scratch, per_chunk = _grad_buffers(f)
    run_chunks(w.k.backward_chunk, len(f.bounds) - 1, f.bounds, w.whh, w.cx, w.kind, w.wo, f.enc_in, f.mask,
               f.dec_in, f.lmask, np.zeros((0, B), np.int64), 1.0, np.bool_(False),
               _in_order(np.ascontiguousarray(dlogits, dtype=F32), f.rows, 1), np.bool_(need_param_grads),
               np.bool_(False), f.states,
               f.acts, _gh(f), f.logits_c, *scratch, *per_chunk)
    return (_in_batch_order(scratch[-1], f.back, own=True),
            _param_grads(w, per_chunk) if need_param_grads else {})


def decode_loss(params, s0, dec_in, target, mask, cell, param_grads: bool = False, with_logits: bool = True):
    """Teacher-forced decode of s0 [B, S] over dec_in [T, B], the token cross-entropy against target over mask
    [T, B] and its backward pass, fused (stage 2: the loss of an edited state and d loss / d s0).
    The mask must say t < length (a prefix per sequence): as gru_numba.decode_loss, the decoder then holds each
    finished row's state and skips it, so logits at masked positions (which carry no loss) are not the reference's.
    Returns (loss, ds0 [B, S], logits [T, B, C] or None unless with_logits, grads ({} unless param_grads),
    correct [B]: seq2seq.exact_match of the logits)."""
    w = Weights.of(params, cell)
    B = dec_in.shape[1]
    loss, grads, logits, correct, ds0 = _train(w, np.zeros((0, B), np.int64), np.zeros((0, B), np.bool_), dec_in,
                                               target, mask, s0, param_grads, with_logits, hold_dec=True)
    return loss, ds0, logits, grads, correct

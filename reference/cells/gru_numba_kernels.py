"""Serial Numba kernels for one batch chunk: the GRU's time loop, forward and backward.

Each kernel works on the rows b0 .. b0+bc of the batch (a *chunk*); gru_numba_chunks.py runs one chunk per
thread. Token and mask arrays are the full time-major [T, B] arrays (a chunk reads its own columns); every other
array is the chunk's own, contiguous, so each step's matrix products are single BLAS calls on [bc, ·] blocks.

The state sequence of a chunk is `hall [S+1, bc, H]`: hall[0] is the initial state and hall[s+1] the state after
step s, so hall[s] is also step s's previous state (the encoder runs steps 0..Te-1, the decoder Te..Te+Td-1).
The gates of step s are kept in `gates[s] = [r | z | n | hn]` ([bc, 4H]), with hn = W_hn h + b_hn.

The one-hot input enters through a table: gi(token) = E[token] W_ihᵀ + b_ih = table[token] ([V, 3H], computed
once per call), so the forward pass has one GEMM per step (h W_hhᵀ) and the input gradient is a scatter-add of
d gi into a [V, 3H] table (dTable), from which dE = dTable W_ih and dW_ih = dTableᵀ E (see gru_numba.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..jit.blas import gemm, gemm_nt, gemm_rows, transpose_plan
from ..jit.math32 import sigmoid32, tanh32

# error_model="numpy": no zero-divisor checks (they block vectorisation); "contract": FMA fusion only, so results
# are deterministic for a given machine and thread count.
JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
_F = np.float32


@njit(**JIT)
def chunk_view(buf, steps, b0, b1, width):
    """The [steps, b1-b0, width] block of chunk (b0, b1) inside a flat chunk-major buffer of steps·B·width."""
    return buf[steps * b0 * width:steps * b1 * width].reshape((steps, b1 - b0, width))


@njit(**JIT)
def copy2(src, dst):
    """dst[...] = src[...] for 2-D arrays, as a loop (Numba's array-to-array setitem costs ~7 s to compile)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@njit(**JIT)
def add2(src, dst):
    """dst += src for 2-D arrays, as a loop."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] += src[i, j]


@njit(**JIT)
def gru_forward_chunk(table, whh, bhh, tok, msk, use_mask, b0, hall, gates, s0, gh, keep_gates):
    """Steps s0 .. s0+T-1 of the GRU (T = tok.shape[0]) for one chunk, in place.

        r = σ(gi_r + W_hr h + b_hr)   z = σ(gi_z + W_hz h + b_hz)   hn = W_hn h + b_hn
        n = tanh(gi_n + r ⊙ hn)       h' = n + z ⊙ (h − n)           h_out = h' if mask else h

    table [V, 3H], whh [3H, H], bhh [3H], tok / msk [T, B], hall [S+1, bc, H] (hall[s0] is read,
    hall[s0+1 .. s0+T] written), gates [S, bc, 4H] written (keep_gates False: every step overwrites gates[0], for an
    encode without backward: one cache-resident slot instead of S), gh [bc, 3H] scratch. hall may hold just two
    states: a step writes hall[(s+1) % len(hall)] from hall[s % len(hall)].
    With the mask, rows past the chunk's last active one only copy their state (their gates are not written): with
    the chunk's rows sorted by decreasing length, a step computes only the sequences still running."""
    bc, ns = gh.shape[0], hall.shape[0]
    split, whh_op = transpose_plan(bc, whh)
    for t in range(tok.shape[0]):
        s = s0 + t
        h, h_out, g = hall[s % ns], hall[(s + 1) % ns], gates[s if keep_gates else 0]
        n = active_rows(msk, t, b0, bc) if use_mask else bc
        gemm_nt(h[:n], whh, split, whh_op, gh[:n])  # gh = h W_hhᵀ
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                copy_row(h, h_out, b)  # held (its gates are not read by the backward pass)
            else:
                gate_forward_row(table, tok[t, b0 + b], gh, b, bhh, h, h_out, g)
        for b in range(n, bc):
            copy_row(h, h_out, b)


@njit(**JIT)
def active_rows(msk, t, b0, bc):
    """1 + the last row of chunk b0..b0+bc that is active (msk[t, ·] True) at step t; 0 if none is."""
    for b in range(bc - 1, -1, -1):
        if msk[t, b0 + b]:
            return b + 1
    return 0


@njit(**JIT)
def copy_row(src, dst, b):
    for j in range(src.shape[1]):
        dst[b, j] = src[b, j]


@njit(**JIT)
def zero_row(x, b):
    for j in range(x.shape[1]):
        x[b, j] = 0.0


# The per-row loops are their own functions: LLVM vectorises the j-loop when it is compiled alone (3.3 ns per
# hidden unit at H=48), not when it sits inside the b-loop (16-20 ns: scalar code).
@njit(**JIT)
def gate_forward_row(table, v, gh, b, bhh, h, h_out, g):
    """Gates and new state of batch row b (token v): reads gh[b], table[v], h[b]; writes g[b], h_out[b]."""
    H = h.shape[1]
    for j in range(H):
        r = sigmoid32(table[v, j] + gh[b, j] + bhh[j])
        z = sigmoid32(table[v, H + j] + gh[b, H + j] + bhh[H + j])
        hn = gh[b, 2 * H + j] + bhh[2 * H + j]
        n = tanh32(table[v, 2 * H + j] + r * hn)
        hp = h[b, j]
        g[b, j] = r
        g[b, H + j] = z
        g[b, 2 * H + j] = n
        g[b, 3 * H + j] = hn
        h_out[b, j] = n + z * (hp - n)


@njit(**JIT)
def gru_backward_chunk(whh, tok, msk, use_mask, b0, hall, gates, s0, dhs, dh, dgh, param_grads, dtable, need_dh0,
                       loss_mask, dwhh, dbhh, ones):
    """Backpropagation through steps s0+T-1 .. s0 (T = tok.shape[0]) for one chunk.

        dh_new = m·dh        dn = dh_new (1 − z)       dz = dh_new (h − n)
        dan = dn (1 − n²)    dar = dan · hn · r (1 − r)   daz = dz · z (1 − z)
        d gi = [dar, daz, dan]     d gh = [dar, daz, dan ⊙ r]     dh ← (1 − m)·dh + dh_new ⊙ z + d gh W_hh

    whh [3H, H]; dhs [T, bc, H] the gradient reaching each output state from outside (or a [0, bc, H] array);
    dh [bc, H]: in, the gradient of the last state; out, of hall[s0] (only if need_dh0; else the last product
    is skipped). dgh [≥1, bc, 3H]: dgh[0] holds the step's d gh. param_grads (the weight gradients are wanted): each
    step adds d ghᵀ h into dwhh [3H, H] and d ghᵀ 1 into dbhh [3H, 1] (two GEMMs while the step's rows are in cache;
    ones [≥bc, 1] all 1), and scatter-adds d gi into dtable[token] [V, 3H]; else none of the three is touched (the
    scatter alone is half a step's gate work at H = 48).
    Rows that get no gradient are skipped (their d gh is zero, their dh unchanged): with use_mask the rows past the
    last active one at step t (held states); with loss_mask (msk is the loss mask of a decoder whose only gradient
    is the loss's) the rows past the last one active at any step ≥ t, whose gradient is exactly zero."""
    bc = dh.shape[0]
    T = tok.shape[0]
    n_loss = 0
    for t in range(T - 1, -1, -1):
        s = s0 + t
        h, g = hall[s], gates[s]
        d = dgh[0]
        if dhs.shape[0] > 0:
            add2(dhs[t], dh)
        n = bc
        if use_mask:
            n = active_rows(msk, t, b0, bc)
        elif loss_mask:
            n_loss = max(n_loss, active_rows(msk, t, b0, bc))
            n = n_loss
        for b in range(n):
            if use_mask and not msk[t, b0 + b]:
                zero_row(d, b)  # the state was held: dh passes through, the gates get nothing
            else:
                gate_backward_row(g, h, b, dh, d, dtable, tok[t, b0 + b], param_grads)
        for b in range(n, bc):
            zero_row(d, b)
        if param_grads and n > 0:  # dW_hh += d ghᵀ h and db_hh += d ghᵀ 1 while this step's rows are in cache
            gemm(True, False, _F(1.0), d[:n], h[:n], _F(1.0), dwhh)
            gemm(True, False, _F(1.0), d[:n], ones[:n], _F(1.0), dbhh)
        if t > 0 or need_dh0:
            gemm_rows(_F(1.0), d[:n], whh, _F(1.0), dh[:n])  # dh += d gh W_hh


@njit(**JIT)
def gate_backward_row(g, h, b, dh, d, dtable, v, table_grad):
    """Backward of row b's gates: reads g[b], h[b], dh[b]; writes d[b] (= d gh) and dh[b] (= dh_new ⊙ z);
    adds d gi into dtable[v] if table_grad (a flag fixed for the call: LLVM compiles the loop once with and once
    without the scatter)."""
    H = h.shape[1]
    one = _F(1.0)
    for j in range(H):
        r, z, n, hn = g[b, j], g[b, H + j], g[b, 2 * H + j], g[b, 3 * H + j]
        dnew = dh[b, j]
        dan = dnew * (one - z) * (one - n * n)
        dar = dan * hn * r * (one - r)
        daz = dnew * (h[b, j] - n) * z * (one - z)
        d[b, j] = dar
        d[b, H + j] = daz
        d[b, 2 * H + j] = dan * r
        if table_grad:
            dtable[v, j] += dar
            dtable[v, H + j] += daz
            dtable[v, 2 * H + j] += dan
        dh[b, j] = dnew * z

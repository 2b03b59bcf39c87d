"""What a researcher pokes at in a trained model: encoder states, the gates of every step, decoding an edited state.

All functions take the model's parameter dict (torch names, see seq2seq.py) and plain arrays, and run the NumPy
reference cell step by step; nothing is trained here. The gates are the GRU's; the states and the decoder take any
cell of cells/choice.py (`cell`, default the GRU; its state has S = H entries, 2H for the LSTM's [h; c]).

    encoder_states(params, tokens [B, Lmax], lengths [B], cell) -> hs [T, B, S]   hs[t] = state after x_{t+1}
    gates(params, tokens, lengths, no_input) -> {"encoder": G, "decoder": G}, G = {"h","r","z","n"} each [T, B, H]
    encoder_gates(params, tokens, lengths) -> G of the encoder only
    greedy_decode(params, h0 [B, S], lengths [B], no_input, cell) -> (tokens [B, T], logits [T, B, C])
    single_token_differences(params, tokens [N, L], rng) -> d [L, N, H]     d[i] = h(x with x_i changed) − h(x)

Gates follow cells/gru.py: r = σ(·), z = σ(·), n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
h' = (1 − z) ⊙ n + z ⊙ h, so 1 − z is how much of the state a step overwrites.
"""
from __future__ import annotations

import numpy as np

from ..cells import gru
from ..tasks.repeat import ALPHABET, make_batch, no_input_id, sos_id
from ..errors import UserError
from .seq2seq import cell_params


def parse_sequences(seqs, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens [B, Lmax] int64, lengths [B]) from strings such as "a b 1 c" (the ALPHABET's symbols, spaces
    optional) or from lists of token ids. A single string or list is one sequence."""
    if isinstance(seqs, str) or (len(seqs) and isinstance(seqs[0], (int, np.integer))):
        seqs = [seqs]
    rows = []
    for s in seqs:
        if isinstance(s, str):
            chars = s.replace(" ", "")
            bad = [c for c in chars if c not in ALPHABET[:n_symbols]]
            if bad:
                raise UserError(f"unknown symbol {bad[0]!r} in {s!r}; symbols are {ALPHABET[:n_symbols]!r}")
            s = [ALPHABET.index(c) for c in chars]
        try:
            s = [int(t) for t in s]
        except (TypeError, ValueError):
            raise UserError(f"a sequence is a string of symbols or a list of token ids, got {s!r:.60}") from None
        if not s or min(s) < 0 or max(s) >= n_symbols:
            raise UserError(f"a sequence must hold 1 or more token ids in 0..{n_symbols - 1}, got {s!r:.60}")
        rows.append(s)
    if not rows:
        raise UserError("no sequences given")
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    tokens = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
    for i, r in enumerate(rows):
        tokens[i, :len(r)] = r
    return tokens, lengths


def _run(params, x_ids, h0, mask=None):
    """The GRU over embedded ids x_ids [T, B] from h0 [B, H]: {"h","r","z","n"} each [T, B, H]."""
    hs, (caches, _) = gru.forward(params["embedding.weight"][x_ids], h0, cell_params(params),
                                  None if mask is None else mask.astype(h0.dtype))
    return {"h": hs, "r": np.stack([c[2] for c in caches]), "z": np.stack([c[3] for c in caches]),
            "n": np.stack([c[4] for c in caches])}


def _n_symbols(params) -> int:
    return params["head.weight"].shape[0]


def _zeros(params, B):
    """h_0 = 0 [B, H] (H from the head: the embedding's width E may differ)."""
    return np.zeros((B, params["head.weight"].shape[1]), dtype=params["embedding.weight"].dtype)


def encoder_gates(params, tokens, lengths) -> dict:
    """The encoder's gates and states of every step, {"h", "r", "z", "n"} each [T, B, H], T = max L (steps past a
    sequence's length hold its state)."""
    b = make_batch(tokens, lengths)
    return _run(params, b.enc_in, _zeros(params, len(lengths)), b.mask)


def encoder_states(params, tokens, lengths, cell=gru) -> np.ndarray:
    """hs [T, B, S]: the encoder state after each input token (held fixed past a sequence's end), T = max L.
    hs[L−1] of a sequence is the state the decoder starts from."""
    if cell is gru:
        return encoder_gates(params, tokens, lengths)["h"]
    b = make_batch(tokens, lengths)
    s0 = np.zeros((len(lengths), cell.state_size(params["head.weight"].shape[1])), params["embedding.weight"].dtype)
    return cell.forward(params["embedding.weight"][b.enc_in], s0, cell_params(params, cell),
                        b.mask.astype(s0.dtype))[0]


def final_states(params, tokens, lengths, cell=gru) -> np.ndarray:
    """s_enc [B, S]: each sequence's encoder state at its own length."""
    return encoder_states(params, tokens, lengths, cell)[-1]


def gates(params, tokens, lengths, no_input: bool = False) -> dict:
    """Gates and states of every step: {"encoder": G, "decoder": G}, G = {"h", "r", "z", "n"} each [T, B, H].

    The decoder is teacher-forced (SOS, x_1 .. x_{L−1}; or SOS, NI, ... in the no-input variant) from the final
    encoder state, as in training. Steps past a sequence's length are padding (the encoder holds its state there)."""
    b = make_batch(tokens, lengths, _n_symbols(params), no_input)
    enc = encoder_gates(params, tokens, lengths)
    dec = _run(params, b.dec_in, enc["h"][-1])
    return {"encoder": enc, "decoder": dec}


def greedy_decode(params, h0, lengths, no_input: bool = False, cell=gru):
    """Decode states h0 [B, S] with the model's own decoder (its `cell`), feeding back its argmax (or NI in the no-input
    variant), for max(lengths) steps. Returns (tokens [B, T] int64, logits [T, B, C]); tokens past a sequence's
    length are set to −1."""
    h0 = np.asarray(h0, dtype=params["embedding.weight"].dtype)
    if h0.ndim == 1:
        h0 = h0[None]
    lengths = np.broadcast_to(np.asarray(lengths, dtype=np.int64), (h0.shape[0],))
    E, W, c = params["embedding.weight"], params["head.weight"], params["head.bias"]
    p = cell_params(params, cell)
    T = int(lengths.max())
    logits = np.empty((T, h0.shape[0], W.shape[0]), dtype=h0.dtype)
    n_symbols = _n_symbols(params)
    h, x = h0, np.full(h0.shape[0], sos_id(n_symbols))
    for t in range(T):
        h = cell.forward(E[x][None], h, p)[0][0]
        logits[t] = cell.output(h) @ W.T + c
        x = np.full_like(x, no_input_id(n_symbols)) if no_input else logits[t].argmax(-1)
    out = logits.argmax(-1).T.astype(np.int64)
    out[np.arange(T)[None, :] >= lengths[:, None]] = -1
    return out, logits


def single_token_differences(params, tokens, rng, with_base: bool = False):
    """d [L, N, H]: for sequences tokens [N, L] (all of length L), d[i] = h_enc(x with x_i := another token) −
    h_enc(x), the new token drawn uniformly from the other n_symbols − 1. An onion stores position i at its own
    order of magnitude, so |d[i]| falls (or rises) by orders of magnitude along i. with_base: (d, h_enc(x) [N, H])."""
    tokens = np.asarray(tokens, dtype=np.int64)
    N, L = tokens.shape
    n_symbols = _n_symbols(params)
    lengths = np.full(N, L, dtype=np.int64)
    h = final_states(params, tokens, lengths)
    out = np.empty((L, N, h.shape[1]), dtype=h.dtype)
    for i in range(L):
        x = tokens.copy()
        x[:, i] = (x[:, i] + rng.integers(1, n_symbols, size=N)) % n_symbols
        out[i] = final_states(params, x, lengths) - h
    return (out, h) if with_base else out

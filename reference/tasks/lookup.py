"""The lookup task (issue 21, access order): store a random token sequence, then answer one position query.

The sequences, their sets and splits are the repeat task's (tasks/repeat.py). After the encoder has read x_1..x_L,
the decoder is given the query position i (0-based, i ~ U{0..L−1} per sequence, seeded) as its own input token and
must output x_{i+1}: one decoder step, one output token. Vocabulary (embedding rows), with C symbols and positions
up to max_len:
    0 .. C−1                symbols
    C                       SOS (kept at its repeat id; lookup never feeds it)
    C+1 .. C+max_len        position tokens: query i is id C + 1 + i
Time-major batch: enc_in [T, B] and mask [T, B] as repeat; dec_in [1, B] = the query's position token;
target [1, B] = x at the query; out_mask [1, B] all True (the loss's mask; the encoder keeps its own).
The no-input variant does not exist for lookup: its decoder input IS the question (config refuses --no-input).
Accuracy = exact match of the single token (chance 1/C).
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from .repeat import N_SYMBOLS, Batch
from .repeat import make_batch as repeat_batch

EVAL_QUERY_SEED = 20241021   # the queries of a validation set: fixed, so evaluating twice gives the same number


def position_id(i, n_symbols: int = N_SYMBOLS):
    """Token id of the query 'position i' (0-based)."""
    return n_symbols + 1 + np.asarray(i)


def vocab_size(n_symbols: int, max_len: int) -> int:
    """Rows of the embedding table: symbols + SOS + one token per position 0..max_len−1."""
    return n_symbols + 1 + max_len


def draw_queries(lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One query per sequence, uniform over 0..L−1. [N] int64."""
    return rng.integers(0, np.asarray(lengths)).astype(np.int64)


def eval_queries(lengths: np.ndarray) -> np.ndarray:
    """The fixed queries of an evaluation set (from EVAL_QUERY_SEED)."""
    return draw_queries(lengths, np.random.default_rng(EVAL_QUERY_SEED))


def check_queries(queries, lengths) -> np.ndarray:
    """queries as int64 [B]; UserError (one line) if a query is outside its sequence (not in 0..L−1)."""
    q = np.asarray(queries)
    if q.shape != np.shape(lengths) or not np.issubdtype(q.dtype, np.integer):
        raise UserError(f"lookup queries must be one integer position per sequence, got shape {q.shape}")
    bad = np.flatnonzero((q < 0) | (q >= lengths))
    if bad.size:
        i = bad[0]
        raise UserError(f"lookup position {int(q[i])} is outside the sequence (length {int(lengths[i])}: "
                        f"positions 0..{int(lengths[i]) - 1})")
    return q.astype(np.int64)


def make_batch(tokens: np.ndarray, lengths: np.ndarray, queries: np.ndarray, n_symbols: int = N_SYMBOLS) -> Batch:
    """The encoder input of repeat; one decoder step asking for position queries[b] of sequence b."""
    q = check_queries(queries, lengths)
    enc = repeat_batch(tokens, lengths, n_symbols)
    B = len(lengths)
    return Batch(enc_in=enc.enc_in, dec_in=position_id(q, n_symbols)[None, :].astype(np.int64),
                 target=np.asarray(tokens)[np.arange(B), q][None, :].astype(np.int64),
                 lengths=enc.lengths, mask=enc.mask, out_mask=np.ones((1, B), bool))

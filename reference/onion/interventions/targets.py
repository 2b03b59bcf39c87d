"""What an intervention's edited state is decoded against, for the frozen model's task (tasks/access.py).

    target_batch(frozen, tokens, lengths, asked, rng) -> Batch
        repeat, reverse: the original sequences in the task's output order, every position (asked unused; nothing
                         is drawn, so repeat's random stream is the paper's)
        lookup:          2B rows, every sequence asked twice: rows 0..B−1 the intervened position `asked` [B] (the
                         counterfactual token itself must come out), rows B..2B−1 a control position drawn uniformly
                         among its other positions (the stored token must still come out there: an edit that only
                         writes the answer into the state fails, as a repeat decode would fail it at the other
                         positions). A sequence of length 1 is asked its one position twice.
    decode(frozen, h_new [B, V], base [B, S], batch, train) -> (loss, dh [B, V] or None, correct [B])
        the teacher-forced decode of h_new's rows repeated to the batch's rows (lookup: twice); the loss is the mean
        over every asked token, dh sums the copies' gradients, correct = every row of the sequence exactly right.
        h_new is the edited part of the state the analysis sees (V = frozen.state; the whole state by default);
        the decoder gets it completed with the rest of the base's own full state, base (frozen.complete), and
        dh is the part's slice of d loss / d state (frozen.part).
"""
from __future__ import annotations

import numpy as np

from ...tasks import lookup


def control_queries(asked, lengths, rng) -> np.ndarray:
    """[B] a position uniform over 0..L−1 without `asked` (the asked one itself when L = 1)."""
    c = rng.integers(0, np.maximum(lengths - 1, 1))
    return np.where(lengths > 1, np.where(c >= asked, c + 1, c), asked).astype(np.int64)


def target_batch(frozen, tokens, lengths, asked, rng):
    if frozen.task != "lookup":
        return frozen.batch(tokens, lengths)
    q = np.concatenate([asked, control_queries(asked, lengths, rng)])
    return lookup.make_batch(np.concatenate([tokens, tokens]), np.concatenate([lengths, lengths]), q,
                             frozen.n_symbols)


def decode(frozen, h_new, base, batch, train: bool, dtype=None):
    B = len(h_new)
    copies = batch.dec_in.shape[1] // B
    s_new = frozen.complete(h_new, base)
    h = s_new if copies == 1 else np.concatenate([s_new] * copies)
    loss, dh, _, correct = frozen.decode(h if dtype is None else h.astype(dtype, copy=False), batch.dec_in,
                                         batch.target, batch.loss_mask, train, with_logits=False)
    if copies > 1:
        correct = correct.reshape(copies, B).all(axis=0)
        if dh is not None:
            dh = dh.reshape(copies, B, -1).sum(axis=0)
    return loss, (None if dh is None else frozen.part(dh)), correct

"""Sequence-level exact-match evaluation of a model on a sequence set (spec §4.1), for any task of tasks/access.py
(lookup: each sequence asked for one position, the set's fixed queries unless given; exact match of one token)."""
from __future__ import annotations

import numpy as np

from .seq2seq import cross_entropy, exact_match
from ..tasks import access, lookup


def length_batches(lengths: np.ndarray, batch: int = 256):
    """Index arrays of batches bucketed by length, longest first (as the authors' validation loaders)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i:i + batch] for i in range(0, len(order), batch)]


def evaluate(predict, tokens, lengths, n_symbols: int, no_input: bool, batch: int = 256, task: str = "repeat",
             queries=None) -> dict:
    """Accuracy (exact match), mean token loss and per-length accuracy of `predict(batch) -> logits [T, B, C]`.
    lookup: queries [N] (default lookup.eval_queries), and also per_query = accuracy by the queried position."""
    if task == "lookup" and queries is None:
        queries = lookup.eval_queries(lengths)
    correct = np.zeros(len(lengths), dtype=bool)
    loss_sum, tok_sum = 0.0, 0
    for idx in length_batches(lengths, batch):
        b = access.batch(task, tokens[idx], lengths[idx], n_symbols, no_input,
                         None if queries is None else queries[idx])
        logits = predict(b)
        n_tok = int(b.loss_mask.sum())
        loss_sum += cross_entropy(logits, b.target, b.loss_mask)[0] * n_tok
        tok_sum += n_tok
        correct[idx] = exact_match(logits, b.target, b.loss_mask)
    per_length = {int(L): float(correct[lengths == L].mean()) for L in np.unique(lengths)}
    out = {"accuracy": float(correct.mean()), "loss": loss_sum / max(tok_sum, 1), "n": int(len(lengths)),
           "per_length": per_length}
    if task == "lookup":
        out["per_query"] = {int(i): float(correct[queries == i].mean()) for i in np.unique(queries)}
    return out

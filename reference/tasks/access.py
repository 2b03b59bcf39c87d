"""The output orders of a stored sequence (issue 21, "access order"): which task a run was trained on.

    repeat   x_1 .. x_L          tasks/repeat.py (the paper's)
    reverse  x_L .. x_1          tasks/reverse.py
    lookup   x_{i+1} for a query position i given to the decoder      tasks/lookup.py
All three draw the same sequence sets (repeat.py's sampler, splits and vocabulary); only the decoder's inputs and
targets differ, so a batch of any task is a tasks.repeat.Batch.

    batch(task, tokens, lengths, n_symbols, no_input, queries) -> Batch      queries [B]: lookup only
    vocab(task, n_symbols, no_input, max_len) -> embedding rows
    output_step(task, p, lengths) -> [B] the decoder step whose target is input position p
                                     (repeat p, reverse L−1−p, lookup 0 when the query is p)
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from . import lookup, repeat, reverse

TASKS = ("repeat", "reverse", "lookup")


def check(task: str, no_input: bool = False) -> str:
    """The task name, or UserError (one line) for an unknown task or lookup with the no-input decoder."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if task == "lookup" and no_input:
        raise UserError("--no-input does not apply to --task lookup: its decoder input is the query position")
    return task


def vocab(task: str, n_symbols: int, no_input: bool, max_len: int) -> int:
    """Embedding rows of a model of the task."""
    if task == "lookup":
        return lookup.vocab_size(n_symbols, max_len)
    return repeat.vocab_size(n_symbols, no_input)


def batch(task: str, tokens, lengths, n_symbols: int = repeat.N_SYMBOLS, no_input: bool = False,
          queries=None) -> repeat.Batch:
    """The task's time-major batch of sequences tokens [B, Lmax], lengths [B] (lookup: queries [B] required)."""
    if task == "repeat":
        return repeat.make_batch(tokens, lengths, n_symbols, no_input)
    if task == "reverse":
        return reverse.make_batch(tokens, lengths, n_symbols, no_input)
    if task == "lookup":
        if queries is None:
            raise ValueError("a lookup batch needs its query positions")
        return lookup.make_batch(tokens, lengths, queries, n_symbols)
    check(task)


def output_step(task: str, p, lengths) -> np.ndarray:
    """The decoder step that must output the token of input position p [B] (lookup: asked with the query p)."""
    p = np.asarray(p)
    if task == "reverse":
        return reverse.output_step(p, lengths)
    return p if task == "repeat" else np.zeros_like(p)

"""The state interface of a cell whose state is its output h (GRU, Elman), as onion/seq2seq.py asks every cell:
the state vector is h [..., H], the readout sees all of it, and the adjoint passes the gradient through unchanged.
(The LSTM's state is [h; c]: cells/lstm.py has its own.)"""
from __future__ import annotations


def state_size(hidden: int) -> int:
    """Length of the state vector: h itself."""
    return hidden


def output(h):
    """What a readout sees: the whole state h [..., H]."""
    return h


def output_backward(dout):
    """Adjoint of `output`: the gradient w.r.t. the state is the one w.r.t. the output (the same array)."""
    return dout
